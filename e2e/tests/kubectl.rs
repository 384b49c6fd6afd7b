//! End-to-end behaviour through kubectl, as a user drives it.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{
    any_done, install_crd, process_exists, recorded_pids, sleeper_command, wait_for, widget,
};
use sluice_e2e::Scenario;

#[test]
fn crd_resources_apply_print_patch_and_finalize() {
    let s = Scenario::start().unwrap();
    install_crd(&s);
    assert!(
        s.apply(&widget("w1", 3))
            .unwrap()
            .contains("widget.example.com/w1 created")
    );
    assert!(s.apply(&widget("w1", 4)).unwrap().contains("configured"));
    assert!(s.apply(&widget("w1", 4)).unwrap().contains("unchanged"));

    s.kubectl_ok(&["annotate", "widget", "w1", "team=data"])
        .unwrap();
    s.kubectl_ok(&[
        "patch",
        "widget",
        "w1",
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"tier":"gold"}}}"#,
    ])
    .unwrap();
    s.kubectl_ok(&[
        "patch",
        "wd",
        "w1",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/size","value":7}]"#,
    ])
    .unwrap();
    s.kubectl_ok(&[
        "patch",
        "widget",
        "w1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Ready"}}"#,
    ])
    .unwrap();
    // Status is ignored on main-resource writes.
    s.kubectl_ok(&[
        "patch",
        "widget",
        "w1",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Hacked"}}"#,
    ])
    .unwrap();

    let table = s.kubectl_ok(&["get", "widgets"]).unwrap();
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "SIZE", "PHASE"]);
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row, ["w1", "7", "Ready"]);
    let meta = s
        .kubectl_ok(&[
            "get",
            "widget",
            "w1",
            "-o",
            "jsonpath={.metadata.annotations.team} {.metadata.labels.tier} {.metadata.generation}",
        ])
        .unwrap();
    // Two spec changes after creation; labels, annotations and status do not count.
    assert_eq!(meta, "data gold 3");
    assert_eq!(
        s.kubectl_ok(&[
            "get",
            "widgets",
            "-l",
            "tier in (gold,silver)",
            "-o",
            "name"
        ])
        .unwrap()
        .trim(),
        "widget.example.com/w1"
    );
    assert_eq!(
        s.kubectl_ok(&["get", "widgets", "-l", "tier!=gold", "-o", "name"])
            .unwrap()
            .trim(),
        ""
    );

    // Schema validation: wrong type and missing required field are 422 Invalid.
    let bad = s.kubectl_stdin(&["apply", "-f", "-"], Some("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: bad}\nspec: {size: big}\n")).unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("is invalid") && err.contains("spec.size"),
        "{err}"
    );
    let missing = s
        .kubectl_stdin(
            &["apply", "-f", "-"],
            Some("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: bad}\nspec: {}\n"),
        )
        .unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("Required value"));

    // A finalizer holds the object until it is removed.
    s.kubectl_ok(&[
        "patch",
        "widget",
        "w1",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
    ])
    .unwrap();
    s.kubectl_ok(&["delete", "widget", "w1", "--wait=false"])
        .unwrap();
    let ts = s
        .kubectl_ok(&[
            "get",
            "widget",
            "w1",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ])
        .unwrap();
    assert!(!ts.is_empty());
    s.kubectl_ok(&[
        "patch",
        "widget",
        "w1",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ])
    .unwrap();
    let gone = s.kubectl(&["get", "widget", "w1"]).unwrap();
    assert!(String::from_utf8_lossy(&gone.stderr).contains("NotFound"));
}

#[test]
fn get_watch_prints_changes_as_they_happen() {
    let s = Scenario::start().unwrap();
    s.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: seen}\ndata: {v: '1'}\n")
        .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut cmd = sluice_e2e::harness::kubectl_command(s.kubeconfig(), cache.path());
    let mut watch = cmd
        .args([
            "-n",
            &s.namespace,
            "get",
            "configmaps",
            "-w",
            "--request-timeout=5s",
            "-o",
            "name",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    s.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: seen}\ndata: {v: '2'}\n")
        .unwrap();
    s.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: later}\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    watch.kill().unwrap();
    let out = String::from_utf8(watch.wait_with_output().unwrap().stdout).unwrap();
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| !l.contains("kube-root-ca"))
        .collect();
    assert_eq!(
        lines,
        ["configmap/seen", "configmap/seen", "configmap/later"],
        "{out}"
    );
}

const JOBS: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: s3cret}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {greeting: hello-from-configmap}
---
apiVersion: batch/v1
kind: Job
metadata: {name: hello}
spec:
  template:
    spec:
      restartPolicy: Never
      volumes: [{name: cfg, configMap: {name: cfg}}]
      containers:
      - name: main
        image: busybox:1.36
        command: [sh, -c, 'echo "password=$PASSWORD pod-ns=$NS"; cat /etc/cfg/greeting']
        env:
        - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}
        - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
        volumeMounts: [{name: cfg, mountPath: /etc/cfg}]
"#;

#[test]
fn job_runs_to_completion_with_secret_env_and_configmap_volume() {
    let s = Scenario::start().unwrap();
    s.apply(JOBS).unwrap();
    s.kubectl_ok(&[
        "wait",
        "--for=condition=complete",
        "job/hello",
        "--timeout=60s",
    ])
    .unwrap();
    let logs = s.kubectl_ok(&["logs", "job/hello"]).unwrap();
    assert_eq!(
        logs,
        format!(
            "password=s3cret pod-ns={}\nhello-from-configmap",
            s.namespace
        )
    );
    let status = s
        .kubectl_ok(&[
            "get",
            "job",
            "hello",
            "-o",
            "jsonpath={.status.succeeded} {.status.active} {.status.completionTime}",
        ])
        .unwrap();
    let fields: Vec<&str> = status.split(' ').collect();
    assert_eq!(&fields[..2], ["1", "0"], "{status}");
    assert!(!fields[2].is_empty());
}

#[test]
fn failing_job_retries_up_to_backoff_limit_then_fails() {
    let s = Scenario::start().unwrap();
    s.apply("apiVersion: batch/v1\nkind: Job\nmetadata: {name: boom}\nspec:\n  backoffLimit: 2\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: main, image: busybox, command: [sh, -c, 'echo failing; exit 3']}]\n").unwrap();
    s.kubectl_ok(&[
        "wait",
        "--for=condition=failed",
        "job/boom",
        "--timeout=60s",
    ])
    .unwrap();
    let reason = s
        .kubectl_ok(&[
            "get",
            "job",
            "boom",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Failed\")].reason} {.status.failed}",
        ])
        .unwrap();
    assert_eq!(reason, "BackoffLimitExceeded 3");
    let pods = s
        .kubectl_ok(&["get", "pods", "-l", "job-name=boom", "-o", "name"])
        .unwrap();
    assert_eq!(pods.lines().count(), 3, "{pods}");
}

#[test]
fn requests_without_a_known_token_are_unauthorized() {
    let s = Scenario::start().unwrap();
    let Some(cluster) = s.local() else { return };
    let out = s
        .kubectl(&["get", "configmaps", "--token", "not-a-token"])
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Unauthorized")
            || String::from_utf8_lossy(&out.stderr).contains("provide credentials")
    );
    let mut as_alice = cluster.kubectl("alice");
    let out = as_alice
        .args(["get", "namespaces", "-o", "name"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let records = cluster.requests();
    assert!(
        records
            .iter()
            .any(|r| r.user == "alice" && r.path == "/api/v1/namespaces"),
        "{records:?}"
    );
}

/// A Job whose pods run `sleeper_command(dir, 30)`; `spec` adds fields to the Job spec.
fn sleeper_job(name: &str, spec: &str, dir: &std::path::Path) -> String {
    let command = serde_json::to_string(&["sh", "-c", &sleeper_command(dir, 30)]).unwrap();
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: {name}}}\nspec:\n{spec}  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: main, image: busybox, command: {command}}}]\n"
    )
}

/// Waits until the `count` sleeper processes of a Job have started, and returns their PIDs.
/// Empty against an external cluster, whose pods do not run on this machine.
fn started_sleepers(s: &Scenario, dir: &std::path::Path, count: usize) -> Vec<u32> {
    if s.local().is_none() {
        return Vec::new();
    }
    let pids = wait_for(
        "the job's processes to start",
        Duration::from_secs(20),
        || {
            let pids = recorded_pids(dir);
            (pids.len() == count).then_some(pids)
        },
    );
    for pid in &pids {
        assert!(process_exists(*pid), "process {pid} is not running");
    }
    pids
}

/// Waits until the processes are gone, and checks none of them finished its sleep.
fn assert_killed(pids: &[u32], dir: &std::path::Path) {
    wait_for(
        "the job's processes to be killed",
        Duration::from_secs(10),
        || pids.iter().all(|p| !process_exists(*p)).then_some(()),
    );
    assert!(!any_done(dir), "a process ran past its sleep");
}

fn wait_no_pods(s: &Scenario, job: &str) {
    let selector = format!("job-name={job}");
    wait_for(
        "the job's pods to be deleted",
        Duration::from_secs(10),
        || {
            let pods = s
                .kubectl_ok(&["get", "pods", "-l", &selector, "-o", "name"])
                .unwrap();
            pods.trim().is_empty().then_some(())
        },
    );
}

#[test]
fn job_past_its_active_deadline_fails_and_its_process_is_killed() {
    let s = Scenario::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    s.apply(&sleeper_job(
        "slow",
        // Times are whole seconds, so a 1s deadline could pass before the process starts.
        "  activeDeadlineSeconds: 2\n",
        dir.path(),
    ))
    .unwrap();
    let pids = started_sleepers(&s, dir.path(), 1);
    s.kubectl_ok(&[
        "wait",
        "--for=condition=failed",
        "job/slow",
        "--timeout=20s",
    ])
    .unwrap();
    let status = s
        .kubectl_ok(&[
            "get",
            "job",
            "slow",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Failed\")].reason} failed={.status.failed}",
        ])
        .unwrap();
    // The pod the controller deleted counts as failed.
    assert_eq!(status, "DeadlineExceeded failed=1");
    assert_killed(&pids, dir.path());
    wait_no_pods(&s, "slow");
}

#[test]
fn deleting_a_running_job_kills_its_processes_and_removes_its_pods() {
    let s = Scenario::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    s.apply(&sleeper_job(
        "sleepy",
        "  parallelism: 2\n  completions: 2\n",
        dir.path(),
    ))
    .unwrap();
    let pids = started_sleepers(&s, dir.path(), 2);
    let out = s.kubectl_ok(&["delete", "job", "sleepy"]).unwrap();
    assert_eq!(out.trim(), "job.batch \"sleepy\" deleted");
    assert_killed(&pids, dir.path());
    wait_no_pods(&s, "sleepy");
    let gone = s.kubectl(&["get", "job", "sleepy"]).unwrap();
    assert!(String::from_utf8_lossy(&gone.stderr).contains("NotFound"));
}
