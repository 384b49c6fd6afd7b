//! DELETE: preconditions, propagation policy (background, foreground, orphan) and finalizers.

use serde_json::{Value, json};

use super::{Cluster, DeleteOptions, Deleted, finalizers, key};
use crate::convert::to_served;
use crate::error::{ApiError, ApiResult};
use crate::meta;
use crate::resources::ResourceInfo;
use crate::store::rv_of;

impl Cluster {
    /// DELETE: removes the object, or marks it for deletion while finalizers remain.
    pub fn delete(
        &self,
        res: &ResourceInfo,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Deleted> {
        let mut inner = self.store.lock();
        let k = key(res, ns, name);
        let obj = inner
            .get(&k)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&res.group, &res.plural, name))?;
        let meta = &obj["metadata"];
        if let Some(uid) = opts
            .uid
            .as_deref()
            .filter(|u| Some(*u) != meta["uid"].as_str())
        {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta["uid"].as_str().unwrap_or_default()
                ),
            ));
        }
        if let Some(rv) = opts
            .resource_version
            .as_deref()
            .filter(|r| *r != rv_of(&obj))
        {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    rv_of(&obj)
                ),
            ));
        }
        let served = to_served(res, &obj);
        let request = crate::admission::Request {
            operation: "DELETE",
            res,
            subresource: "",
            namespace: if res.namespaced { ns } else { "" },
            name,
            object: None,
            old: Some(&served),
            user: &opts.user,
            dry_run: opts.dry_run,
        };
        self.admit(&inner, &request, &opts.notes)?;
        let default_policy = res
            .builtin
            .map_or("Background", |k| k.default_propagation());
        let policy = opts.propagation.as_deref().unwrap_or(default_policy);
        let mut fins = finalizers(&obj);
        let extra = match policy {
            "Foreground" => Some("foregroundDeletion"),
            "Orphan" => Some("orphan"),
            _ => None,
        };
        let has_dependents = extra.is_some() && {
            let uid = &meta["uid"];
            inner.all().any(|(_, o)| {
                o["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| &r["uid"] == uid))
            })
        };
        if let Some(f) = extra.filter(|_| has_dependents)
            && !fins.iter().any(|x| x == f)
        {
            fins.push(json!(f));
        }
        // Some kinds (namespaces) always terminate first: their contents must go before they do.
        let terminates = res.builtin.is_some_and(|k| k.terminates());
        if fins.is_empty() && !terminates {
            if opts.dry_run {
                return Ok(Deleted {
                    object: served,
                    gone: true,
                });
            }
            let object = inner.remove(&k).unwrap_or(obj);
            drop(inner);
            if res.builtin.is_some_and(|k| k.defines_resources()) {
                self.unregister_crd(&object);
            }
            return Ok(Deleted {
                object: to_served(res, &object),
                gone: true,
            });
        }
        let mut marked = obj.clone();
        marked["metadata"]["finalizers"] = Value::Array(fins);
        if marked["metadata"]["deletionTimestamp"].is_null() {
            marked["metadata"]["deletionTimestamp"] = json!(meta::now());
            marked["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            // Setting deletionTimestamp is a change of intent: upstream bumps the generation.
            if let Some(g) = marked["metadata"]["generation"].as_i64() {
                marked["metadata"]["generation"] = json!(g + 1);
            }
            if let Some(kind) = res.builtin {
                kind.on_marked_for_deletion(&mut marked);
            }
        }
        if opts.dry_run || marked == obj {
            return Ok(Deleted {
                object: to_served(res, &marked),
                gone: false,
            });
        }
        let object = inner.put(k, marked);
        Ok(Deleted {
            object: to_served(res, &object),
            gone: false,
        })
    }
}
