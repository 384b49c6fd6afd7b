//! The built-in controllers besides the kubelet, one file each: garbage collection by
//! ownerReferences (`gc`), namespace termination and each namespace's default objects
//! (`namespaces`), CRD cleanup (`crd_cleanup`), ClusterRole aggregation (`roles`), Deployments
//! and ReplicaSets (`deployments`) and Jobs (`jobs`). Each pass re-scans the store; passes run
//! on every change and at least once a second (the Job controller every 100ms, for its
//! deadlines and retry delays). Each acts as its own `system:` identity.

pub mod crd_cleanup;
pub mod deployments;
pub mod gc;
pub mod jobs;
pub mod namespaces;
pub mod roles;

use std::sync::Arc;

use serde_json::{Value, json};

use crate::api::{Cluster, DeleteOptions, Part, WriteOptions};
use crate::auth::User;
use crate::patch::PatchType;
use crate::store::ObjKey;

/// Every stored object at the start of a pass.
pub type Snapshot = [(ObjKey, Value)];

/// Runs the controllers (all but the Job controller, see `jobs::run`) until the task is
/// dropped.
pub async fn run(cluster: Arc<Cluster>) {
    let mut changes = cluster.store.subscribe();
    loop {
        reconcile(&cluster);
        deployments::reconcile(&cluster);
        // Any change (or a lag notice) triggers the next pass.
        tokio::select! {
            _ = changes.recv() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
        while changes.try_recv().is_ok() {}
    }
}

/// One pass of the controllers that work from a snapshot of the whole store.
pub fn reconcile(cluster: &Cluster) {
    let snapshot: Vec<(ObjKey, Value)> = cluster
        .store
        .lock()
        .all()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    gc::reconcile(cluster, &snapshot);
    namespaces::reconcile(cluster, &snapshot);
    crd_cleanup::reconcile(cluster, &snapshot);
    roles::reconcile(cluster, &snapshot);
}

fn is_deleting(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

fn has_finalizer(obj: &Value, f: &str) -> bool {
    obj["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|fs| fs.iter().any(|x| x == f))
}

/// The garbage collector's identity, which namespace termination and CRD cleanup delete and
/// patch with too.
fn gc_user() -> User {
    User::controller("generic-garbage-collector")
}

/// Deletes the object at `key` with the given propagation policy.
fn delete(cluster: &Cluster, key: &ObjKey, propagation: &str) {
    if let Some(res) = cluster.resource_of(key) {
        let opts = DeleteOptions {
            propagation: Some(propagation.into()),
            ..DeleteOptions::by(gc_user())
        };
        let _ = cluster.delete(&res, &key.namespace, &key.name, &opts);
    }
}

/// Applies a JSON merge patch to the object at `key`.
fn merge(cluster: &Cluster, key: &ObjKey, patch: Value) {
    if let Some(res) = cluster.resource_of(key) {
        let _ = cluster.patch(
            &res,
            &key.namespace,
            &key.name,
            PatchType::Merge,
            patch,
            Part::Main,
            &WriteOptions::by(gc_user(), "kube-controller-manager"),
        );
    }
}

/// Removes finalizer `f` from `obj` (at `key`), if it is still the version the pass saw.
fn remove_finalizer(cluster: &Cluster, key: &ObjKey, obj: &Value, f: &str) {
    let rest: Vec<Value> = obj["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|x| *x != f)
        .cloned()
        .collect();
    merge(
        cluster,
        key,
        json!({"metadata": {"finalizers": rest, "resourceVersion": obj["metadata"]["resourceVersion"]}}),
    );
}
