//! The Job controller: creates pods up to `parallelism` until `completions` succeed, retries
//! failures up to `backoffLimit`, enforces `activeDeadlineSeconds`, records the real
//! controller's status (counts, times, SuccessCriteriaMet/Complete or FailureTarget/Failed) and
//! deletes finished Jobs after `ttlSecondsAfterFinished`. Like upstream, it keeps a tracking
//! finalizer on its pods so that a pod deleted before it finished counts as a failure.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::api::{Cluster, DeleteOptions, Part, WriteOptions};
use crate::auth::User;
use crate::meta;
use crate::patch::PatchType;
use crate::resources::ResourceInfo;
use crate::selectors::Selectors;

/// Upstream's finalizer: a pod keeps it until the Job controller has counted it.
const TRACKING: &str = "batch.kubernetes.io/job-tracking";

/// How long a failed pod waits to be replaced (the real controller backs off from 10s).
pub const RETRY_DELAY: Duration = Duration::from_millis(100);

/// How often time-based rules (deadlines, TTLs, retry delays) are re-checked.
const TICK: Duration = Duration::from_millis(100);

/// Runs the Job controller until the task is dropped.
pub async fn run(cluster: Arc<Cluster>, retry_delay: Duration) {
    let mut changes = cluster.store.subscribe();
    loop {
        reconcile(&cluster, retry_delay);
        tokio::select! {
            _ = changes.recv() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
        while changes.try_recv().is_ok() {}
    }
}

fn int(v: &Value, default: i64) -> i64 {
    v.as_i64().unwrap_or(default)
}

fn condition_true<'a>(job: &'a Value, kind: &str) -> Option<&'a Value> {
    job["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind && c["status"] == "True")
}

fn condition(kind: &str, reason: &str, message: &str) -> Value {
    let now = meta::now();
    json!({"type": kind, "status": "True", "reason": reason, "message": message, "lastProbeTime": now, "lastTransitionTime": now})
}

/// One pass over every Job; failed pods are replaced after `retry_delay`.
pub fn reconcile(cluster: &Cluster, retry_delay: Duration) {
    let (Ok(jobs_res), Ok(pods_res)) = (
        cluster.resource("batch", "v1", "jobs"),
        cluster.resource("", "v1", "pods"),
    ) else {
        return;
    };
    let (jobs, _) = cluster.list(&jobs_res, None, &Selectors::default());
    let (pods, _) = cluster.list(&pods_res, None, &Selectors::default());
    let live = |j: &&Value| j["metadata"]["deletionTimestamp"].is_null();
    // A pod whose Job is gone or being deleted is no longer counted anywhere.
    for pod in pods.iter().filter(|p| is_uncounted(p)) {
        let owner = pod["metadata"]["ownerReferences"][0]["uid"].clone();
        if !jobs
            .iter()
            .filter(live)
            .any(|j| j["metadata"]["uid"] == owner)
        {
            release_pod(cluster, &pods_res, pod);
        }
    }
    for job in jobs.iter().filter(live) {
        let uid = &job["metadata"]["uid"];
        let owned: Vec<&Value> = pods
            .iter()
            .filter(|p| {
                p["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|o| &o["uid"] == uid))
            })
            .collect();
        reconcile_job(cluster, retry_delay, &jobs_res, &pods_res, job, &owned);
        // Their failure is in the status now (or the Job finished): let the deleted pods go.
        for pod in owned.iter().filter(|p| is_uncounted(p)) {
            release_pod(cluster, &pods_res, pod);
        }
    }
}

/// Whether a pod was deleted but still waits for the Job controller to count it.
fn is_uncounted(pod: &Value) -> bool {
    !pod["metadata"]["deletionTimestamp"].is_null()
        && pod["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == TRACKING))
}

fn release_pod(cluster: &Cluster, pods_res: &ResourceInfo, pod: &Value) {
    let rest: Vec<&Value> = pod["metadata"]["finalizers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| *f != TRACKING)
        .collect();
    let patch = json!({"metadata": {"finalizers": rest, "resourceVersion": pod["metadata"]["resourceVersion"]}});
    let (ns, name) = (
        pod["metadata"]["namespace"].as_str().unwrap_or_default(),
        pod["metadata"]["name"].as_str().unwrap_or_default(),
    );
    let _ = cluster.patch(
        pods_res,
        ns,
        name,
        PatchType::Merge,
        patch,
        Part::Main,
        &opts(),
    );
}

fn reconcile_job(
    cluster: &Cluster,
    retry_delay: Duration,
    jobs_res: &ResourceInfo,
    pods_res: &ResourceInfo,
    job: &Value,
    owned: &[&Value],
) {
    let ns = job["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = job["metadata"]["name"].as_str().unwrap_or_default();
    let spec = &job["spec"];
    let finished = condition_true(job, "Complete").or_else(|| condition_true(job, "Failed"));
    if let Some(done) = finished {
        let ttl = spec["ttlSecondsAfterFinished"].as_i64();
        let since = meta::age_seconds(done["lastTransitionTime"].as_str().unwrap_or_default());
        if let (Some(ttl), Some(since)) = (ttl, since)
            && since >= ttl
        {
            let opts = DeleteOptions {
                propagation: Some("Background".into()),
                ..DeleteOptions::by(User::controller("ttl-after-finished-controller"))
            };
            let _ = cluster.delete(jobs_res, ns, name, &opts);
        }
        return;
    }
    let phase = |p: &&&Value| {
        p["status"]["phase"]
            .as_str()
            .unwrap_or("Pending")
            .to_string()
    };
    let active: Vec<&&Value> = owned
        .iter()
        .filter(|p| {
            !matches!(phase(p).as_str(), "Succeeded" | "Failed")
                && p["metadata"]["deletionTimestamp"].is_null()
        })
        .collect();
    let succeeded = owned.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
    let restarts: i64 = owned
        .iter()
        .flat_map(|p| {
            p["status"]["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|c| int(&c["restartCount"], 0))
        .sum();
    // Deleted before they finished: failures, counted once, then let go.
    let vanished: Vec<&&Value> = owned
        .iter()
        .filter(|p| is_uncounted(p) && !matches!(phase(p).as_str(), "Succeeded" | "Failed"))
        .collect();
    let failed = (owned.iter().filter(|p| phase(p) == "Failed").count() as i64)
        .max(int(&job["status"]["failed"], 0))
        + vanished.len() as i64;
    let ready = active.iter().filter(|p| phase(p) == "Running").count() as i64;
    let (completions, parallelism, backoff) = (
        int(&spec["completions"], 1),
        int(&spec["parallelism"], 1),
        int(&spec["backoffLimit"], 6),
    );
    let now = meta::now();
    let start = job["status"]["startTime"]
        .as_str()
        .map(String::from)
        .unwrap_or_else(|| now.clone());
    let mut status = json!({"startTime": start, "active": active.len(), "succeeded": succeeded, "failed": failed, "ready": ready, "terminating": 0, "uncountedTerminatedPods": {}});
    if spec["suspend"] == true {
        status["startTime"] = Value::Null;
        delete_pods(cluster, pods_res, ns, &active);
        write_status(cluster, jobs_res, job, status);
        return;
    }
    let deadline = spec["activeDeadlineSeconds"]
        .as_i64()
        .filter(|d| meta::age_seconds(&start).is_some_and(|age| age >= *d));
    let failure = if failed + restarts > backoff {
        Some((
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ))
    } else if deadline.is_some() {
        Some((
            "DeadlineExceeded",
            "Job was active longer than specified deadline",
        ))
    } else {
        None
    };
    if let Some((reason, message)) = failure {
        delete_pods(cluster, pods_res, ns, &active);
        // Upstream counts the pods it deletes, never having reached a phase, as failed.
        status["failed"] = json!(failed + active.len() as i64);
        status["active"] = json!(0);
        status["ready"] = json!(0);
        status["conditions"] = json!([
            condition("FailureTarget", reason, message),
            condition("Failed", reason, message)
        ]);
        write_status(cluster, jobs_res, job, status);
        return;
    }
    if succeeded >= completions {
        status["completionTime"] = json!(now);
        status["conditions"] = json!([
            condition(
                "SuccessCriteriaMet",
                "CompletionsReached",
                "Reached expected number of succeeded pods"
            ),
            condition(
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods"
            )
        ]);
        write_status(cluster, jobs_res, job, status);
        return;
    }
    let last_failure = owned
        .iter()
        .filter(|p| phase(p) == "Failed")
        .filter_map(|p| {
            p["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"].as_str()
        })
        .filter_map(meta::age_seconds)
        .min();
    let backing_off =
        last_failure.is_some_and(|age| (age as u128) * 1000 < retry_delay.as_millis());
    let want = parallelism.min(completions - succeeded) - active.len() as i64;
    if !backing_off {
        for _ in 0..want.max(0) {
            create_pod(cluster, pods_res, job);
        }
        status["active"] = json!(active.len() as i64 + want.max(0));
    }
    write_status(cluster, jobs_res, job, status);
}

/// Deletes the given pods (the Job failed, was suspended, or hit its deadline).
fn delete_pods(cluster: &Cluster, pods_res: &ResourceInfo, ns: &str, pods: &[&&Value]) {
    for p in pods {
        let name = p["metadata"]["name"].as_str().unwrap_or_default();
        let _ = cluster.delete(pods_res, ns, name, &DeleteOptions::by(controller()));
    }
}

fn create_pod(cluster: &Cluster, pods_res: &ResourceInfo, job: &Value) {
    let template = &job["spec"]["template"];
    let name = job["metadata"]["name"].as_str().unwrap_or_default();
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": format!("{name}-"),
            "labels": template["metadata"]["labels"],
            "annotations": template["metadata"]["annotations"],
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": job["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}],
            "finalizers": [TRACKING],
        },
        "spec": template["spec"],
    });
    if pod["metadata"]["annotations"].is_null() {
        pod["metadata"]
            .as_object_mut()
            .map(|m| m.remove("annotations"));
    }
    let ns = job["metadata"]["namespace"].as_str().unwrap_or_default();
    let _ = cluster.create(pods_res, ns, pod, &opts());
}

fn write_status(cluster: &Cluster, jobs_res: &ResourceInfo, job: &Value, mut status: Value) {
    let old = &job["status"];
    // Keep the old transition times when nothing changed, so the write is a no-op.
    if old["startTime"].is_string() && status["startTime"].is_string() {
        status["startTime"] = old["startTime"].clone();
    }
    let mut merged = old.clone();
    crate::patch::merge_patch(&mut merged, &status);
    if &merged == old {
        return;
    }
    let (ns, name) = (
        job["metadata"]["namespace"].as_str().unwrap_or_default(),
        job["metadata"]["name"].as_str().unwrap_or_default(),
    );
    let patch = json!({"metadata": {"resourceVersion": job["metadata"]["resourceVersion"]}, "status": status});
    let _ = cluster.patch(
        jobs_res,
        ns,
        name,
        PatchType::Merge,
        patch,
        Part::Status,
        &opts(),
    );
}

fn controller() -> User {
    User::controller("job-controller")
}

fn opts() -> WriteOptions {
    WriteOptions::by(controller(), "kube-controller-manager")
}
