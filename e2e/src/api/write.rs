//! Create, update (PUT) and patch: uid / resourceVersion / generation bookkeeping, optimistic
//! concurrency, status-subresource separation, finalizers while deleting, dry-run and
//! validation.

use serde_json::{Value, json};

use super::{Cluster, Part, WriteOptions, finalizers, key};
use crate::defaults;
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::patch::{self, PatchType};
use crate::resources::ResourceInfo;
use crate::store::{Inner, ObjKey, rv_of};
use crate::validation::{self, Findings};

/// The object without the parts that do not count towards `metadata.generation`.
fn generation_content(res: &ResourceInfo, obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        if res.status {
            m.remove("status");
        }
    }
    o
}

impl Cluster {
    /// Validates against the CRD schema (pruning unknown fields) or the built-in rules.
    fn check(&self, res: &ResourceInfo, obj: &mut Value, opts: &WriteOptions) -> ApiResult<()> {
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut findings = Findings::default();
        if let Some(custom) = &res.custom {
            let version = obj["apiVersion"]
                .as_str()
                .and_then(|a| a.rsplit('/').next())
                .unwrap_or(res.preferred_version());
            if let Some(schema) = custom
                .schemas
                .get(version)
                .or_else(|| custom.schemas.values().next())
            {
                validation::validate(schema, obj, "", &mut findings);
            }
        } else {
            findings.invalid = defaults::validate(res, obj);
        }
        if !findings.invalid.is_empty() {
            return Err(ApiError::invalid(
                &res.group,
                &res.kind,
                &name,
                findings.invalid,
            ));
        }
        if opts.strict && !findings.unknown.is_empty() {
            let fields: Vec<String> = findings
                .unknown
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .collect();
            return Err(ApiError::bad_request(format!(
                "strict decoding error: {}",
                fields.join(", ")
            )));
        }
        Ok(())
    }

    fn check_namespace(&self, inner: &Inner, res: &ResourceInfo, ns: &str) -> ApiResult<()> {
        if !res.namespaced {
            return Ok(());
        }
        match inner.get(&ObjKey::new("", "namespaces", "", ns)) {
            None => Err(ApiError::not_found("", "namespaces", ns)),
            Some(n) if !n["metadata"]["deletionTimestamp"].is_null() => Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "{} is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    res.plural
                ),
            )),
            Some(_) => Ok(()),
        }
    }

    /// POST: creates a new object.
    pub fn create(
        &self,
        res: &ResourceInfo,
        ns: &str,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be an object",
            ));
        }
        if let Some(kind) = obj["kind"].as_str().filter(|k| *k != res.kind) {
            return Err(ApiError::bad_request(format!(
                "the kind {kind:?} does not match the resource {:?} ({})",
                res.plural, res.kind
            )));
        }
        obj["kind"] = json!(res.kind);
        if obj["apiVersion"].as_str().is_none() {
            obj["apiVersion"] = json!(res.api_version(res.preferred_version()));
        }
        let meta = &mut obj["metadata"];
        if !meta.is_object() {
            *meta = json!({});
        }
        if res.namespaced {
            match meta["namespace"].as_str() {
                Some(n) if !n.is_empty() && n != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => meta["namespace"] = json!(ns),
            }
        } else if let Some(m) = meta.as_object_mut() {
            m.remove("namespace");
        }
        if meta["name"].as_str().is_none_or(str::is_empty) {
            match meta["generateName"].as_str() {
                Some(prefix) => meta["name"] = json!(format!("{prefix}{}", meta::suffix())),
                None => {
                    return Err(ApiError::invalid(
                        &res.group,
                        &res.kind,
                        "",
                        vec![(
                            "metadata.name".into(),
                            "Required value: name or generateName is required".into(),
                        )],
                    ));
                }
            }
        }
        if !rv_of(&obj).is_empty() {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(msg) = meta::invalid_name(&name, res.plural == "namespaces") {
            return Err(ApiError::invalid(
                &res.group,
                &res.kind,
                &name,
                vec![("metadata.name".into(), msg)],
            ));
        }
        let meta = &mut obj["metadata"];
        meta["uid"] = json!(meta::uid());
        meta["creationTimestamp"] = json!(meta::now());
        if let Some(m) = meta.as_object_mut() {
            m.remove("deletionTimestamp");
            m.remove("deletionGracePeriodSeconds");
            m.remove("generation");
        }
        if res.generation {
            obj["metadata"]["generation"] = json!(1);
        }
        if res.status
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        defaults::on_create(res, &mut obj);
        defaults::on_write(res, &mut obj);
        self.check(res, &mut obj, opts)?;
        let mut inner = self.store.lock();
        self.check_namespace(&inner, res, ns)?;
        let k = key(res, ns, &name);
        if inner.get(&k).is_some() {
            return Err(ApiError::already_exists(&res.group, &res.plural, &name));
        }
        if opts.dry_run {
            return Ok(obj);
        }
        let stored = inner.put(k, obj);
        drop(inner);
        self.after_commit(res, &stored);
        Ok(stored)
    }

    /// Keeps the registry in step with CRD objects.
    fn after_commit(&self, res: &ResourceInfo, obj: &Value) {
        if res.group == "apiextensions.k8s.io"
            && res.plural == "customresourcedefinitions"
            && obj["metadata"]["deletionTimestamp"].is_null()
        {
            self.registry
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .register_crd(obj);
        }
    }

    /// The common tail of every update: `mutate` turns the live object into the candidate,
    /// then immutable fields, subresource separation, generation and no-op detection apply.
    #[allow(clippy::too_many_arguments)] // One argument per part of the REST call it serves.
    fn write(
        &self,
        res: &ResourceInfo,
        ns: &str,
        name: &str,
        part: Part,
        opts: &WriteOptions,
        require_rv: bool,
        mutate: impl FnOnce(Option<&Value>) -> ApiResult<Option<Value>>,
    ) -> ApiResult<Value> {
        let mut inner = self.store.lock();
        let k = key(res, ns, name);
        let old = match inner.get(&k).cloned() {
            Some(old) => old,
            None => {
                drop(inner);
                // Only server-side apply creates through this path.
                return match mutate(None)? {
                    Some(new) => self.create(res, ns, new, opts),
                    None => Err(ApiError::not_found(&res.group, &res.plural, name)),
                };
            }
        };
        let mut new = mutate(Some(&old))?
            .ok_or_else(|| ApiError::not_found(&res.group, &res.plural, name))?;
        if !new.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be an object",
            ));
        }
        let given_rv = rv_of(&new).to_string();
        if given_rv.is_empty() && require_rv {
            return Err(ApiError::invalid(
                &res.group,
                &res.kind,
                name,
                vec![(
                    "metadata.resourceVersion".into(),
                    "Invalid value: 0x0: must be specified for an update".into(),
                )],
            ));
        }
        if !given_rv.is_empty() && given_rv != rv_of(&old) {
            return Err(ApiError::conflict(&res.group, &res.plural, name));
        }
        if let Some(n) = new["metadata"]["name"].as_str().filter(|n| *n != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
        for field in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ] {
            match old["metadata"].get(field) {
                Some(v) => new["metadata"][field] = v.clone(),
                None => {
                    if let Some(m) = new["metadata"].as_object_mut() {
                        m.remove(field);
                    }
                }
            }
        }
        if new["metadata"].get("managedFields").is_none()
            && let Some(mf) = old["metadata"].get("managedFields")
        {
            new["metadata"]["managedFields"] = mf.clone();
        }
        new["kind"] = old["kind"].clone();
        new["apiVersion"] = old["apiVersion"].clone();
        if part == Part::Status {
            let mut only_status = old.clone();
            match new.get("status") {
                Some(s) => only_status["status"] = s.clone(),
                None => {
                    if let Some(m) = only_status.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            new = only_status;
        } else if res.status {
            match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Some(m) = new.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        defaults::on_write(res, &mut new);
        self.check(res, &mut new, opts)?;
        let deleting = !old["metadata"]["deletionTimestamp"].is_null();
        if deleting
            && finalizers(&new)
                .iter()
                .any(|f| !finalizers(&old).contains(f))
        {
            return Err(ApiError::invalid(
                &res.group,
                &res.kind,
                name,
                vec![(
                    "metadata.finalizers".into(),
                    "Forbidden: no new finalizers can be added if the object is being deleted"
                        .into(),
                )],
            ));
        }
        if res.generation && generation_content(res, &new) != generation_content(res, &old) {
            new["metadata"]["generation"] =
                json!(old["metadata"]["generation"].as_i64().unwrap_or(0) + 1);
        }
        if new == old || opts.dry_run {
            return Ok(new);
        }
        if deleting && finalizers(&new).is_empty() {
            let gone = inner.remove(&k).map(|_| new.clone());
            drop(inner);
            return Ok(gone.unwrap_or(new));
        }
        let stored = inner.put(k, new);
        drop(inner);
        self.after_commit(res, &stored);
        Ok(stored)
    }

    /// PUT: replaces the object (or its status).
    pub fn update(
        &self,
        res: &ResourceInfo,
        ns: &str,
        name: &str,
        body: Value,
        part: Part,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        let require_rv = res.custom.is_some();
        self.write(res, ns, name, part, opts, require_rv, |old| {
            Ok(old.map(|_| body))
        })
    }

    /// PATCH in any of the four formats.
    #[allow(clippy::too_many_arguments)] // One argument per part of the REST call it serves.
    pub fn patch(
        &self,
        res: &ResourceInfo,
        ns: &str,
        name: &str,
        kind: PatchType,
        body: Value,
        part: Part,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        if kind == PatchType::Strategic && res.custom.is_some() {
            return Err(ApiError::unsupported_media(
                "application/strategic-merge-patch+json",
            ));
        }
        let manager = opts.field_manager.clone();
        if kind == PatchType::Apply && manager.as_deref().is_none_or(str::is_empty) {
            return Err(ApiError::bad_request(
                "PATCH, fieldManager: Required value: is required for apply patch",
            ));
        }
        let api_version = res.api_version(res.preferred_version());
        self.write(res, ns, name, part, opts, false, |old| {
            let Some(old) = old else {
                return match kind {
                    PatchType::Apply if part == Part::Main => {
                        let mut created = patch::apply(
                            None,
                            &body,
                            manager.as_deref().unwrap_or_default(),
                            opts.force,
                            &api_version,
                        )?;
                        created["metadata"]["name"] = json!(name);
                        Ok(Some(created))
                    }
                    _ => Ok(None),
                };
            };
            let mut new = old.clone();
            match kind {
                PatchType::Merge => patch::merge_patch(&mut new, &body),
                PatchType::Json => patch::json_patch(&mut new, &body)?,
                PatchType::Strategic => patch::strategic_merge(&mut new, &body),
                PatchType::Apply => {
                    new = patch::apply(
                        Some(old),
                        &body,
                        manager.as_deref().unwrap_or_default(),
                        opts.force,
                        &api_version,
                    )?;
                    // Apply carries no precondition unless the config names a version.
                    if body["metadata"]["resourceVersion"].is_null() {
                        new["metadata"]["resourceVersion"] =
                            old["metadata"]["resourceVersion"].clone();
                    }
                }
            }
            Ok(Some(new))
        })
    }
}
