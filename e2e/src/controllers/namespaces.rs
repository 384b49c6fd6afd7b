//! Namespaces: a terminating namespace's contents are deleted, then the namespace itself (the
//! namespace controller's `finalize` step, which clears `spec.finalizers`); every live
//! namespace gets a `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{Snapshot, delete, is_deleting};
use crate::api::{Cluster, WriteOptions};
use crate::auth::User;
use crate::store::ObjKey;

pub fn reconcile(cluster: &Cluster, snapshot: &Snapshot) {
    let namespaces = snapshot
        .iter()
        .filter(|(k, _)| k.same_resource("", "namespaces"));
    let mut live: HashSet<&str> = HashSet::new();
    for (key, ns) in namespaces {
        if is_deleting(ns) {
            terminate(cluster, key, ns, snapshot);
        } else {
            live.insert(key.name.as_str());
        }
    }
    for ns in &live {
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
}

/// Deletes a terminating namespace's contents, then the namespace itself once it has no
/// finalizers left.
fn terminate(cluster: &Cluster, key: &ObjKey, ns: &Value, snapshot: &Snapshot) {
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
