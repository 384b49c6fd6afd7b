//! ClusterRole aggregation: a ClusterRole with an `aggregationRule` gets the rules of every
//! ClusterRole its selectors match.

use serde_json::{Value, json};

use super::Snapshot;
use crate::api::{Cluster, Part, WriteOptions};
use crate::auth::User;
use crate::patch::PatchType;
use crate::selectors::LabelSelector;
use crate::store::ObjKey;

const RBAC: &str = "rbac.authorization.k8s.io";

pub fn reconcile(cluster: &Cluster, snapshot: &Snapshot) {
    let roles: Vec<Value> = snapshot
        .iter()
        .filter(|(k, _)| k.same_resource(RBAC, "clusterroles"))
        .map(|(_, v)| v.clone())
        .collect();
    for role in &roles {
        if let Some(rules) = aggregate(role, &roles)
            && role["rules"] != Value::Array(rules.clone())
        {
            let key = ObjKey::new(
                RBAC,
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

/// The rules an aggregating ClusterRole collects from the ClusterRoles its selectors match.
fn aggregate(role: &Value, all: &[Value]) -> Option<Vec<Value>> {
    let selectors = role["aggregationRule"]["clusterRoleSelectors"].as_array()?;
    let mut out: Vec<Value> = Vec::new();
    for other in all {
        if other["metadata"]["name"] == role["metadata"]["name"] {
            continue;
        }
        let matched = selectors
            .iter()
            .any(|s| LabelSelector::from_object(s).matches(other));
        if matched {
            for r in other["rules"].as_array().into_iter().flatten() {
                if !out.contains(r) {
                    out.push(r.clone());
                }
            }
        }
    }
    Some(out)
}
