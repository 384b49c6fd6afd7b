//! CRD cleanup: a deleted CRD's custom resources are deleted, then its resource stops being
//! served and the `customresourcecleanup` finalizer is removed.

use super::{Snapshot, delete, has_finalizer, is_deleting, remove_finalizer};
use crate::api::Cluster;
use crate::kinds::crd::{CLEANUP_FINALIZER, defined_resource};
use crate::store::ObjKey;

pub fn reconcile(cluster: &Cluster, snapshot: &Snapshot) {
    let deleted = snapshot.iter().filter(|(k, v)| {
        k.plural == "customresourcedefinitions"
            && is_deleting(v)
            && has_finalizer(v, CLEANUP_FINALIZER)
    });
    for (key, crd) in deleted {
        let (group, plural) = defined_resource(crd).unwrap_or_default();
        let instances: Vec<&ObjKey> = snapshot
            .iter()
            .map(|(k, _)| k)
            .filter(|k| k.same_resource(group, plural))
            .collect();
        for k in &instances {
            delete(cluster, k, "Background");
        }
        if instances.is_empty() {
            cluster.unregister_crd(crd);
            remove_finalizer(cluster, key, crd, CLEANUP_FINALIZER);
        }
    }
}
