//! The `apps/v1` controllers: Deployments (a ReplicaSet per pod template, named by its
//! `pod-template-hash`, revisions, RollingUpdate and Recreate, history limit, upstream's status
//! and conditions so `kubectl rollout status` returns) and ReplicaSets (keep `replicas` pods,
//! replacing deleted or failed ones).

use serde_json::{Value, json};

use crate::api::{Cluster, DeleteOptions, Part, WriteOptions};
use crate::auth::User;
use crate::meta;
use crate::patch::{self, PatchType};
use crate::resources::ResourceInfo;
use crate::selectors::Selectors;

const REVISION: &str = "deployment.kubernetes.io/revision";
const HASH: &str = "pod-template-hash";

fn opts(controller: &str) -> WriteOptions {
    WriteOptions::by(User::controller(controller), "kube-controller-manager")
}

fn name_of(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or_default()
}

fn ns_of(o: &Value) -> &str {
    o["metadata"]["namespace"].as_str().unwrap_or_default()
}

fn controlled_by<'a>(items: &'a [Value], owner: &Value) -> Vec<&'a Value> {
    let uid = &owner["metadata"]["uid"];
    items
        .iter()
        .filter(|o| {
            o["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|refs| {
                    refs.iter()
                        .any(|r| &r["uid"] == uid && r["controller"] == true)
                })
        })
        .collect()
}

fn int(v: &Value, default: i64) -> i64 {
    v.as_i64().unwrap_or(default)
}

/// The template hash upstream names ReplicaSets by: FNV-1a of the template, spelled with the
/// alphabet of generated names.
fn template_hash(template: &Value) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in template.to_string().bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    h.to_string()
        .bytes()
        .map(|b| ALPHABET[b as usize % ALPHABET.len()] as char)
        .collect()
}

fn revision(rs: &Value) -> i64 {
    rs["metadata"]["annotations"][REVISION]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn condition(kind: &str, status: bool, reason: &str, message: &str, old: &Value) -> Value {
    let now = meta::now();
    let s = if status { "True" } else { "False" };
    let previous = old["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind));
    let transition = previous
        .filter(|c| c["status"] == s)
        .and_then(|c| c["lastTransitionTime"].as_str().map(String::from))
        .unwrap_or_else(|| now.clone());
    let updated = previous
        .filter(|c| c["status"] == s && c["reason"] == reason && c["message"] == message)
        .and_then(|c| c["lastUpdateTime"].as_str().map(String::from))
        .unwrap_or(now);
    json!({"type": kind, "status": s, "lastUpdateTime": updated, "lastTransitionTime": transition, "reason": reason, "message": message})
}

/// Writes `status` when it differs from the object's.
fn write_status(cluster: &Cluster, res: &ResourceInfo, obj: &Value, status: Value, who: &str) {
    if obj["status"] == status {
        return;
    }
    let mut merged = obj["status"].clone();
    patch::merge_patch(&mut merged, &status);
    if merged == obj["status"] {
        return;
    }
    let body = json!({"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]}, "status": status});
    let _ = cluster.patch(
        res,
        ns_of(obj),
        name_of(obj),
        PatchType::Merge,
        body,
        Part::Status,
        &opts(who),
    );
}

/// Records a core/v1 Event about `obj`, as a controller does.
pub fn record_event(cluster: &Cluster, obj: &Value, reason: &str, message: &str, component: &str) {
    let Ok(events) = cluster.resource("", "v1", "events") else {
        return;
    };
    let now = meta::now();
    let event = json!({
        "metadata": {"generateName": format!("{}.", name_of(obj))},
        "involvedObject": {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": name_of(obj), "namespace": ns_of(obj), "uid": obj["metadata"]["uid"], "resourceVersion": obj["metadata"]["resourceVersion"]},
        "reason": reason, "message": message, "type": "Normal", "count": 1,
        "source": {"component": component}, "firstTimestamp": now, "lastTimestamp": now,
        "reportingComponent": component, "reportingInstance": "",
    });
    let _ = cluster.create(&events, ns_of(obj), event, &opts(component));
}

fn set_replicas(cluster: &Cluster, res: &ResourceInfo, rs: &Value, replicas: i64, extra: Value) {
    let before = int(&rs["spec"]["replicas"], 1);
    if before == replicas && extra.is_null() {
        return;
    }
    if before != replicas
        && let Some(owner) = rs["metadata"]["ownerReferences"]
            .as_array()
            .and_then(|r| r.first())
        && let Ok(deploys) = cluster.resource("apps", "v1", "deployments")
        && let Ok(d) = cluster.get(
            &deploys,
            ns_of(rs),
            owner["name"].as_str().unwrap_or_default(),
        )
    {
        let way = if replicas > before { "up" } else { "down" };
        let message = format!(
            "Scaled {way} replica set {} from {before} to {replicas}",
            name_of(rs)
        );
        record_event(
            cluster,
            &d,
            "ScalingReplicaSet",
            &message,
            "deployment-controller",
        );
    }
    let mut body = json!({"spec": {"replicas": replicas}});
    if !extra.is_null() {
        patch::merge_patch(&mut body, &extra);
    }
    let _ = cluster.patch(
        res,
        ns_of(rs),
        name_of(rs),
        PatchType::Merge,
        body,
        Part::Main,
        &opts("deployment-controller"),
    );
}

/// One pass of the Deployment and ReplicaSet controllers.
pub fn reconcile(cluster: &Cluster) {
    let (Ok(deploys), Ok(sets), Ok(pods)) = (
        cluster.resource("apps", "v1", "deployments"),
        cluster.resource("apps", "v1", "replicasets"),
        cluster.resource("", "v1", "pods"),
    ) else {
        return;
    };
    let all = Selectors::default();
    let (deployments, _) = cluster.list(&deploys, None, &all);
    let (replica_sets, _) = cluster.list(&sets, None, &all);
    for d in deployments
        .iter()
        .filter(|d| d["metadata"]["deletionTimestamp"].is_null())
    {
        deployment(
            cluster,
            &deploys,
            &sets,
            d,
            &controlled_by(&replica_sets, d),
        );
    }
    let (replica_sets, _) = cluster.list(&sets, None, &all);
    let (all_pods, _) = cluster.list(&pods, None, &all);
    for rs in replica_sets
        .iter()
        .filter(|r| r["metadata"]["deletionTimestamp"].is_null())
    {
        replica_set(cluster, &sets, &pods, rs, &controlled_by(&all_pods, rs));
    }
}

fn max_unavailable(d: &Value, desired: i64) -> i64 {
    if d["spec"]["strategy"]["type"] == "Recreate" {
        return 0;
    }
    match &d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(p) => p
            .trim_end_matches('%')
            .parse::<i64>()
            .map(|p| desired * p / 100)
            .unwrap_or(0),
        _ => desired / 4,
    }
}

fn deployment(
    cluster: &Cluster,
    deploys: &ResourceInfo,
    sets: &ResourceInfo,
    d: &Value,
    owned: &[&Value],
) {
    let desired = int(&d["spec"]["replicas"], 1);
    let template = &d["spec"]["template"];
    let hash = template_hash(template);
    let name = name_of(d);
    let new_rs = owned
        .iter()
        .find(|rs| rs["metadata"]["labels"][HASH] == hash.as_str())
        .copied();
    let max_rev = owned.iter().map(|rs| revision(rs)).max().unwrap_or(0);
    let paused = d["spec"]["paused"] == true;
    let new_rs = match new_rs {
        Some(rs) => {
            if revision(rs) < max_rev && !paused {
                let bump =
                    json!({"metadata": {"annotations": {REVISION: (max_rev + 1).to_string()}}});
                set_replicas(cluster, sets, rs, int(&rs["spec"]["replicas"], 0), bump);
            }
            rs.clone()
        }
        None if paused => return,
        None => {
            let mut tpl = template.clone();
            tpl["metadata"]["labels"][HASH] = json!(hash);
            let mut selector = d["spec"]["selector"].clone();
            selector["matchLabels"][HASH] = json!(hash);
            let mut labels = template["metadata"]["labels"].clone();
            labels[HASH] = json!(hash);
            let rs = json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {
                    "name": format!("{name}-{hash}"), "labels": labels,
                    "annotations": {REVISION: (max_rev + 1).to_string(), "deployment.kubernetes.io/desired-replicas": desired.to_string(), "deployment.kubernetes.io/max-replicas": desired.to_string()},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": d["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}],
                },
                "spec": {"replicas": 0, "minReadySeconds": d["spec"]["minReadySeconds"].as_i64().unwrap_or(0), "selector": selector, "template": tpl},
            });
            match cluster.create(sets, ns_of(d), rs, &opts("deployment-controller")) {
                Ok(rs) => rs,
                Err(_) => return,
            }
        }
    };
    let olds: Vec<&&Value> = owned
        .iter()
        .filter(|rs| name_of(rs) != name_of(&new_rs))
        .collect();
    let available = |rs: &Value| int(&rs["status"]["availableReplicas"], 0);
    let current = |rs: &Value| int(&rs["status"]["replicas"], 0);
    if !paused {
        if d["spec"]["strategy"]["type"] == "Recreate" {
            for rs in &olds {
                set_replicas(cluster, sets, rs, 0, Value::Null);
            }
            if olds.iter().all(|rs| current(rs) == 0) {
                set_replicas(cluster, sets, &new_rs, desired, Value::Null);
            }
        } else {
            set_replicas(cluster, sets, &new_rs, desired, Value::Null);
            if available(&new_rs) >= desired {
                for rs in &olds {
                    set_replicas(cluster, sets, rs, 0, Value::Null);
                }
            }
        }
        let limit = int(&d["spec"]["revisionHistoryLimit"], 10).max(0) as usize;
        let mut idle: Vec<&&Value> = olds
            .iter()
            .filter(|rs| int(&rs["spec"]["replicas"], 0) == 0 && current(rs) == 0)
            .copied()
            .collect();
        idle.sort_by_key(|rs| revision(rs));
        for rs in idle.iter().take(idle.len().saturating_sub(limit)) {
            let _ = cluster.delete(
                sets,
                ns_of(rs),
                name_of(rs),
                &DeleteOptions::by(User::controller("deployment-controller")),
            );
        }
    }
    if d["metadata"]["annotations"][REVISION].as_str()
        != new_rs["metadata"]["annotations"][REVISION].as_str()
    {
        let body = json!({"metadata": {"annotations": {REVISION: new_rs["metadata"]["annotations"][REVISION]}}});
        let _ = cluster.patch(
            deploys,
            ns_of(d),
            name,
            PatchType::Merge,
            body,
            Part::Main,
            &opts("deployment-controller"),
        );
    }
    let every: Vec<&Value> = olds
        .iter()
        .map(|r| **r)
        .chain(std::iter::once(&new_rs))
        .collect();
    let sum = |f: &str| every.iter().map(|rs| int(&rs["status"][f], 0)).sum::<i64>();
    let (total, ready, avail) = (
        sum("replicas"),
        sum("readyReplicas"),
        sum("availableReplicas"),
    );
    let updated = current(&new_rs);
    let complete = updated == desired && total == desired && avail == desired;
    let rs_name = name_of(&new_rs);
    let progressing = if complete {
        condition(
            "Progressing",
            true,
            "NewReplicaSetAvailable",
            &format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
            d,
        )
    } else {
        condition(
            "Progressing",
            true,
            "ReplicaSetUpdated",
            &format!("ReplicaSet \"{rs_name}\" is progressing."),
            d,
        )
    };
    let minimum = avail >= desired - max_unavailable(d, desired);
    let available_cond = if minimum {
        condition(
            "Available",
            true,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            d,
        )
    } else {
        condition(
            "Available",
            false,
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            d,
        )
    };
    let mut status = json!({
        "observedGeneration": d["metadata"]["generation"], "replicas": total, "updatedReplicas": updated,
        "readyReplicas": ready, "availableReplicas": avail, "conditions": [available_cond, progressing],
    });
    if desired - avail > 0 {
        status["unavailableReplicas"] = json!(desired - avail);
    }
    // Only a real change is written: the condition times alone are not one.
    let strip = |v: &Value| {
        let mut v = v.clone();
        for c in v["conditions"].as_array_mut().into_iter().flatten() {
            c.as_object_mut().map(|m| m.remove("lastUpdateTime"));
        }
        v
    };
    if strip(&status) != strip(&d["status"]) {
        write_status(cluster, deploys, d, status, "deployment-controller");
    }
}

fn pod_ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn replica_set(
    cluster: &Cluster,
    sets: &ResourceInfo,
    pods_res: &ResourceInfo,
    rs: &Value,
    owned: &[&Value],
) {
    let desired = int(&rs["spec"]["replicas"], 1);
    let who = DeleteOptions::by(User::controller("replicaset-controller"));
    let mut active: Vec<&&Value> = Vec::new();
    for p in owned {
        let phase = p["status"]["phase"].as_str().unwrap_or("Pending");
        if !p["metadata"]["deletionTimestamp"].is_null() {
            continue;
        }
        if matches!(phase, "Failed" | "Succeeded") {
            let _ = cluster.delete(pods_res, ns_of(p), name_of(p), &who);
            continue;
        }
        active.push(p);
    }
    let count = active.len() as i64;
    if count < desired {
        for _ in count..desired {
            create_pod(cluster, pods_res, rs);
        }
    } else if count > desired {
        // Not-ready pods go first, then the newest.
        active.sort_by_key(|p| {
            (
                pod_ready(p),
                std::cmp::Reverse(
                    p["metadata"]["creationTimestamp"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ),
            )
        });
        for p in active.iter().take((count - desired) as usize) {
            let _ = cluster.delete(pods_res, ns_of(p), name_of(p), &who);
        }
    }
    let kept = active.len().min(desired as usize);
    let ready = active.iter().filter(|p| pod_ready(p)).count().min(kept);
    let status = json!({
        "replicas": kept, "fullyLabeledReplicas": kept, "readyReplicas": ready, "availableReplicas": ready,
        "observedGeneration": rs["metadata"]["generation"],
    });
    write_status(cluster, sets, rs, status, "replicaset-controller");
}

fn create_pod(cluster: &Cluster, pods_res: &ResourceInfo, rs: &Value) {
    let template = &rs["spec"]["template"];
    let name = name_of(rs);
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "generateName": format!("{name}-"),
            "labels": template["metadata"]["labels"],
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name, "uid": rs["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": template["spec"],
    });
    if template["metadata"]["annotations"].is_object() {
        pod["metadata"]["annotations"] = template["metadata"]["annotations"].clone();
    }
    let _ = cluster.create(pods_res, ns_of(rs), pod, &opts("replicaset-controller"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_hashes_are_stable_and_differ() {
        let a = json!({"spec": {"containers": [{"name": "a", "image": "x"}]}});
        let b = json!({"spec": {"containers": [{"name": "a", "image": "y"}]}});
        assert_eq!(template_hash(&a), template_hash(&a.clone()));
        assert_ne!(template_hash(&a), template_hash(&b));
        assert!(template_hash(&a).chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
