//! The built-in controllers that are not the kubelet: garbage collection by ownerReferences
//! (background, foreground, orphan), namespace termination, default service accounts and the
//! `kube-root-ca.crt` ConfigMap, CRD cleanup, ClusterRole aggregation, and the workload
//! controllers (`workloads`). Each pass re-scans the store; passes run on every change and at
//! least once a second. Each acts as its own `system:` identity.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::api::{Cluster, DeleteOptions, Part, WriteOptions};
use crate::auth::User;
use crate::kinds::crd::CLEANUP_FINALIZER as CRD_CLEANUP_FINALIZER;
use crate::patch::PatchType;
use crate::store::ObjKey;

fn is_deleting(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

fn has_finalizer(obj: &Value, f: &str) -> bool {
    obj["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|fs| fs.iter().any(|x| x == f))
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["uid"].as_str().map(String::from))
        .collect()
}

/// Runs the controllers until the task is dropped.
pub async fn run(cluster: Arc<Cluster>) {
    let mut changes = cluster.store.subscribe();
    loop {
        reconcile(&cluster);
        crate::workloads::reconcile(&cluster);
        // Any change (or a lag notice) triggers the next pass.
        tokio::select! {
            _ = changes.recv() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
        }
        while changes.try_recv().is_ok() {}
    }
}

fn gc() -> User {
    User::controller("generic-garbage-collector")
}

fn delete(cluster: &Cluster, key: &ObjKey, propagation: &str) {
    if let Some(res) = cluster.resource_of(key) {
        let opts = DeleteOptions {
            propagation: Some(propagation.into()),
            ..DeleteOptions::by(gc())
        };
        let _ = cluster.delete(&res, &key.namespace, &key.name, &opts);
    }
}

fn merge(cluster: &Cluster, key: &ObjKey, patch: Value) {
    if let Some(res) = cluster.resource_of(key) {
        let _ = cluster.patch(
            &res,
            &key.namespace,
            &key.name,
            PatchType::Merge,
            patch,
            Part::Main,
            &WriteOptions::by(gc(), "kube-controller-manager"),
        );
    }
}

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

/// One pass over everything.
pub fn reconcile(cluster: &Cluster) {
    let snapshot: Vec<(ObjKey, Value)> = cluster
        .store
        .lock()
        .all()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let by_uid: HashMap<&str, &Value> = snapshot
        .iter()
        .filter_map(|(_, v)| Some((v["metadata"]["uid"].as_str()?, v)))
        .collect();
    let mut dependents: HashMap<String, Vec<&ObjKey>> = HashMap::new();
    for (k, v) in &snapshot {
        for uid in owner_uids(v) {
            dependents.entry(uid).or_default().push(k);
        }
    }
    let live_namespaces: HashSet<&str> = snapshot
        .iter()
        .filter(|(k, v)| k.plural == "namespaces" && k.group.is_empty() && !is_deleting(v))
        .map(|(k, _)| k.name.as_str())
        .collect();

    for (key, obj) in &snapshot {
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
        if key.group.is_empty() && key.plural == "namespaces" {
            terminate_namespace(cluster, key, obj, &snapshot);
        }
        if key.plural == "customresourcedefinitions" && has_finalizer(obj, CRD_CLEANUP_FINALIZER) {
            let (group, plural) = (
                obj["spec"]["group"].as_str().unwrap_or_default(),
                obj["spec"]["names"]["plural"].as_str().unwrap_or_default(),
            );
            let instances: Vec<&ObjKey> = snapshot
                .iter()
                .map(|(k, _)| k)
                .filter(|k| k.same_resource(group, plural))
                .collect();
            for k in &instances {
                delete(cluster, k, "Background");
            }
            if instances.is_empty() {
                cluster.unregister_crd(obj);
                remove_finalizer(cluster, key, obj, CRD_CLEANUP_FINALIZER);
            }
        }
    }
    for ns in &live_namespaces {
        let sa = ObjKey::new("", "serviceaccounts", ns, "default");
        if !snapshot.iter().any(|(k, _)| *k == sa)
            && let Some(res) = cluster.resource_of(&sa)
        {
            let _ = cluster.create(
                &res,
                ns,
                json!({"metadata": {"name": "default"}}),
                &WriteOptions::by(
                    User::controller("service-account-controller"),
                    "kube-controller-manager",
                ),
            );
        }
        let ca = ObjKey::new("", "configmaps", ns, "kube-root-ca.crt");
        if !snapshot.iter().any(|(k, _)| *k == ca)
            && let Some(res) = cluster.resource_of(&ca)
            && let Ok(certs) = crate::tls::certs()
        {
            let _ = cluster.create(
                &res,
                ns,
                json!({"metadata": {"name": "kube-root-ca.crt", "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}}, "data": {"ca.crt": certs.ca_pem}}),
                &WriteOptions::by(User::controller("root-ca-cert-publisher"), "kube-controller-manager"),
            );
        }
    }
    aggregate_cluster_roles(cluster, &snapshot);
}

/// Fills aggregating ClusterRoles (`aggregationRule`) with the rules of the roles they select.
fn aggregate_cluster_roles(cluster: &Cluster, snapshot: &[(ObjKey, Value)]) {
    let roles: Vec<Value> = snapshot
        .iter()
        .filter(|(k, _)| k.same_resource("rbac.authorization.k8s.io", "clusterroles"))
        .map(|(_, v)| v.clone())
        .collect();
    for role in &roles {
        if let Some(rules) = crate::rbac::aggregate(role, &roles)
            && role["rules"] != Value::Array(rules.clone())
        {
            let key = ObjKey::new(
                "rbac.authorization.k8s.io",
                "clusterroles",
                "",
                role["metadata"]["name"].as_str().unwrap_or_default(),
            );
            if let Some(res) = cluster.resource_of(&key) {
                let _ = cluster.patch(
                    &res,
                    "",
                    &key.name,
                    PatchType::Merge,
                    json!({"rules": rules}),
                    Part::Main,
                    &WriteOptions::by(
                        User::controller("clusterrole-aggregation-controller"),
                        "kube-controller-manager",
                    ),
                );
            }
        }
    }
}

/// Deletes a terminating namespace's contents, then the namespace itself (the namespace
/// controller's `finalize` step, which clears `spec.finalizers`).
fn terminate_namespace(cluster: &Cluster, key: &ObjKey, ns: &Value, snapshot: &[(ObjKey, Value)]) {
    let contents: Vec<&ObjKey> = snapshot
        .iter()
        .map(|(k, _)| k)
        .filter(|k| k.namespace == key.name)
        .collect();
    for k in &contents {
        delete(cluster, k, "Background");
    }
    if contents.is_empty()
        && ns["metadata"]["finalizers"]
            .as_array()
            .is_none_or(Vec::is_empty)
    {
        cluster.store.lock().remove(key);
    }
}
