//! Garbage collection by ownerReferences: dependents whose owners are all gone are deleted,
//! owners deleted in the foreground (`foregroundDeletion`) take their dependents with them and
//! go once they have none, and owners deleted with `orphan` release their dependents first.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Snapshot, delete, has_finalizer, is_deleting, merge, remove_finalizer};
use crate::api::Cluster;
use crate::store::ObjKey;

fn owner_uids(obj: &Value) -> Vec<String> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["uid"].as_str().map(String::from))
        .collect()
}

pub fn reconcile(cluster: &Cluster, snapshot: &Snapshot) {
    let by_uid: HashMap<&str, &Value> = snapshot
        .iter()
        .filter_map(|(_, v)| Some((v["metadata"]["uid"].as_str()?, v)))
        .collect();
    let mut dependents: HashMap<String, Vec<&ObjKey>> = HashMap::new();
    for (k, v) in snapshot {
        for uid in owner_uids(v) {
            dependents.entry(uid).or_default().push(k);
        }
    }
    for (key, obj) in snapshot {
        let uid = obj["metadata"]["uid"].as_str().unwrap_or_default();
        let kids = dependents.get(uid).cloned().unwrap_or_default();
        // Dependents whose owners are all gone are collected; owners being deleted in the
        // foreground take their dependents with them.
        let owners = owner_uids(obj);
        if !owners.is_empty() && !is_deleting(obj) {
            let alive: Vec<&&Value> = owners
                .iter()
                .filter_map(|u| by_uid.get(u.as_str()))
                .collect();
            if alive.is_empty()
                || alive
                    .iter()
                    .any(|o| is_deleting(o) && has_finalizer(o, "foregroundDeletion"))
            {
                delete(cluster, key, "Background");
            }
        }
        if !is_deleting(obj) {
            continue;
        }
        if has_finalizer(obj, "foregroundDeletion") && kids.is_empty() {
            remove_finalizer(cluster, key, obj, "foregroundDeletion");
        }
        if has_finalizer(obj, "orphan") {
            for kid in &kids {
                let Some((_, dep)) = snapshot.iter().find(|(k, _)| k == *kid) else {
                    continue;
                };
                let refs: Vec<Value> = dep["metadata"]["ownerReferences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|r| r["uid"] != uid)
                    .cloned()
                    .collect();
                merge(cluster, kid, json!({"metadata": {"ownerReferences": refs}}));
            }
            remove_finalizer(cluster, key, obj, "orphan");
        }
    }
}
