//! Create, update (PUT) and patch: uid / resourceVersion / generation bookkeeping, optimistic
//! concurrency, status-subresource separation, finalizers while deleting, dry-run, validation
//! (metadata, the built-in kinds' rules and immutable fields, CRD schemas with defaults and
//! CEL rules), managed fields, and validating admission.

use serde_json::{Value, json};

use super::{Cluster, Part, WriteOptions, finalizers, key};
use crate::admission;
use crate::convert::{to_served, to_storage};
use crate::error::{ApiError, ApiResult};
use crate::fieldmanager::{self, Manager, Scope, Shape};
use crate::meta;
use crate::patch::{self, PatchType};
use crate::resources::ResourceInfo;
use crate::schema::Validator;
use crate::store::{Inner, rv_of};

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

fn shape<'a>(res: &'a ResourceInfo, obj: &Value) -> Shape<'a> {
    match res.custom.as_ref().and_then(|c| c.schema_for(obj)) {
        Some(schema) => Shape::Schema(schema),
        None => Shape::Builtin,
    }
}

fn scope(res: &ResourceInfo, part: Part) -> Scope {
    match part {
        Part::Main => Scope::Main {
            status_separate: res.status,
        },
        Part::Status => Scope::Status,
    }
}

impl Cluster {
    /// Validates metadata, then the CRD schema (defaulting, pruning unknown fields, CEL rules
    /// with `oldSelf` from `old`) or the built-in rules and immutable fields.
    fn check(
        &self,
        res: &ResourceInfo,
        obj: &mut Value,
        old: Option<&Value>,
        opts: &WriteOptions,
    ) -> ApiResult<()> {
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut invalid = meta::validate_metadata(&obj["metadata"]);
        let mut unknown = Vec::new();
        if let Some(custom) = &res.custom {
            if let Some(schema) = custom.schema_for(obj).cloned() {
                crate::schema::defaults::apply(&schema, obj);
                let mut v = Validator::new(Some(&self.cel));
                v.validate(&schema, obj, old, "");
                invalid.extend(v.out.invalid);
                unknown = v.out.unknown;
            }
        } else if let Some(kind) = res.builtin {
            invalid.extend(kind.validate(obj));
            if let Some(old) = old {
                invalid.extend(kind.validate_update(old, obj));
            }
        }
        if !invalid.is_empty() {
            return Err(ApiError::invalid(&res.group, &res.kind, &name, invalid));
        }
        if opts.strict && !unknown.is_empty() {
            let fields: Vec<String> = unknown
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
        match inner.get(&crate::kinds::namespace::key(ns)) {
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
        obj: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        self.create_object(res, ns, obj, opts, false)
    }

    /// Creates; `applied` objects (server-side apply) already carry their managed fields.
    fn create_object(
        &self,
        res: &ResourceInfo,
        ns: &str,
        mut obj: Value,
        opts: &WriteOptions,
        applied: bool,
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
        let mut obj = to_storage(res, obj);
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
        let invalid = match res.builtin {
            Some(kind) => kind.invalid_name(&name),
            None => meta::invalid_name(&name, false),
        };
        if let Some(msg) = invalid {
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
        if let Some(kind) = res.builtin {
            kind.on_create(&mut obj);
            kind.on_write(&mut obj);
        }
        self.check(res, &mut obj, None, opts)?;
        if !applied
            && obj["metadata"]["managedFields"].is_null()
            && let Some(manager) = &opts.field_manager
        {
            let version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
            let m = Manager {
                name: manager,
                api_version: &version,
                scope: scope(res, Part::Main),
            };
            let shape = shape(res, &obj);
            fieldmanager::update(None, &mut obj, &m, shape);
        }
        let mut inner = self.store.lock();
        self.check_namespace(&inner, res, ns)?;
        let k = key(res, ns, &name);
        if inner.get(&k).is_some() {
            return Err(ApiError::already_exists(&res.group, &res.plural, &name));
        }
        let served = to_served(res, &obj);
        let request = admission::Request {
            operation: "CREATE",
            res,
            subresource: "",
            namespace: if res.namespaced { ns } else { "" },
            name: &name,
            object: Some(&served),
            old: None,
            user: &opts.user,
            dry_run: opts.dry_run,
        };
        self.admit(&inner, &request, &opts.notes)?;
        if opts.dry_run {
            return Ok(served);
        }
        let stored = inner.put(k, obj);
        drop(inner);
        self.after_commit(res, &stored);
        Ok(to_served(res, &stored))
    }

    /// Keeps the registry in step with the objects that define resources (CRDs).
    fn after_commit(&self, res: &ResourceInfo, obj: &Value) {
        if res.builtin.is_some_and(|k| k.defines_resources())
            && obj["metadata"]["deletionTimestamp"].is_null()
        {
            self.registry
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .register_crd(obj);
        }
    }

    /// An apply that creates its object is also authorized as `create` (RBAC on).
    fn authorize_create(
        &self,
        res: &ResourceInfo,
        ns: &str,
        name: &str,
        opts: &WriteOptions,
    ) -> ApiResult<()> {
        if !self.rbac {
            return Ok(());
        }
        let attrs = crate::rbac::Attributes {
            user: opts.user.clone(),
            verb: "create".into(),
            namespace: ns.to_string(),
            group: res.group.clone(),
            version: res.preferred_version().to_string(),
            resource: res.plural.clone(),
            subresource: String::new(),
            name: name.to_string(),
            path: None,
        };
        let decision = crate::rbac::Rbac::snapshot(&self.store.lock(), true).authorize(&attrs);
        if !decision.allowed {
            return Err(crate::rbac::forbidden(&attrs, &decision.reason));
        }
        opts.notes.authorized(attrs.authorization());
        Ok(())
    }

    /// The common tail of every update: `mutate` turns the live object (as served) into the
    /// candidate, then immutable fields, subresource separation, validation, generation,
    /// managed fields, admission and no-op detection apply.
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
                // Only server-side apply creates through this path; as upstream, creating
                // needs `create` as well as `patch`.
                return match mutate(None)? {
                    Some(new) => {
                        self.authorize_create(res, ns, name, opts)?;
                        self.create_object(res, ns, new, opts, true)
                    }
                    None => Err(ApiError::not_found(&res.group, &res.plural, name)),
                };
            }
        };
        let served_old = to_served(res, &old);
        let new = mutate(Some(&served_old))?
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
        let mut new = to_storage(res, new);
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
        let managed_given = new["metadata"].get("managedFields").is_some()
            && new["metadata"]["managedFields"] != old["metadata"]["managedFields"];
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
            only_status["metadata"]["managedFields"] = new["metadata"]["managedFields"].clone();
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
        if let Some(kind) = res.builtin {
            kind.on_write(&mut new);
        }
        self.check(res, &mut new, Some(&served_old), opts)?;
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
        if !managed_given && let Some(manager) = &opts.field_manager {
            let version = res.api_version(res.preferred_version());
            let m = Manager {
                name: manager,
                api_version: &version,
                scope: scope(res, part),
            };
            let shape = shape(res, &new);
            fieldmanager::update(Some(&old), &mut new, &m, shape);
        }
        if new == old {
            return Ok(to_served(res, &new));
        }
        let served = to_served(res, &new);
        let request = admission::Request {
            operation: "UPDATE",
            res,
            subresource: if part == Part::Status { "status" } else { "" },
            namespace: if res.namespaced { ns } else { "" },
            name,
            object: Some(&served),
            old: Some(&served_old),
            user: &opts.user,
            dry_run: opts.dry_run,
        };
        self.admit(&inner, &request, &opts.notes)?;
        if opts.dry_run {
            return Ok(served);
        }
        if deleting && finalizers(&new).is_empty() {
            let gone = inner.remove(&k).map(|_| new.clone());
            drop(inner);
            return Ok(to_served(res, &gone.unwrap_or(new)));
        }
        let stored = inner.put(k, new);
        drop(inner);
        self.after_commit(res, &stored);
        Ok(to_served(res, &stored))
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
        if kind != PatchType::Apply {
            return self.write(res, ns, name, part, opts, false, |old| {
                let Some(old) = old else { return Ok(None) };
                let mut new = old.clone();
                match kind {
                    PatchType::Merge => patch::merge_patch(&mut new, &body),
                    PatchType::Json => patch::json_patch(&mut new, &body)?,
                    _ => patch::strategic_merge(&mut new, &body),
                }
                Ok(Some(new))
            });
        }
        let manager = opts.field_manager.clone().unwrap_or_default();
        if manager.is_empty() {
            return Err(ApiError::bad_request(
                "PATCH, fieldManager: Required value: is required for apply patch",
            ));
        }
        let api_version = res.api_version(res.preferred_version());
        let m = Manager {
            name: &manager,
            api_version: &api_version,
            scope: scope(res, part),
        };
        // The apply records its own managed fields: the write must not record them again as an
        // update by the same manager.
        let recorded = WriteOptions {
            field_manager: None,
            ..opts.clone()
        };
        self.write(res, ns, name, part, &recorded, false, |old| {
            let live = match old {
                Some(old) => old.clone(),
                None if part == Part::Main => json!({}),
                None => return Ok(None),
            };
            let mut new = fieldmanager::apply(&live, &body, &m, opts.force, shape(res, &body))?;
            if old.is_none() {
                new["metadata"]["name"] = json!(name);
                new["apiVersion"] = body["apiVersion"].clone();
                new["kind"] = body["kind"].clone();
            } else if body["metadata"]["resourceVersion"].is_null() {
                // Apply carries no precondition unless the config names a version.
                new["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"].clone();
            } else {
                // A version the config names is a precondition, on the status subresource too
                // (whose apply takes nothing else from the config's metadata).
                new["metadata"]["resourceVersion"] = body["metadata"]["resourceVersion"].clone();
            }
            Ok(Some(new))
        })
    }
}
