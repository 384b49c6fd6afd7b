//! Deployments run as local processes under their service account: rollouts, restarts after
//! `kubectl delete pod`, template changes, scaling, and an in-pod identity whose RBAC is exactly
//! what its Role grants.

mod common;

use std::time::Duration;

use common::wait_for;
use sluice_e2e::{Scenario, TestCluster};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A Deployment whose pod, as service account `worker`, lists ConfigMaps (allowed by its Role)
/// and Secrets (not allowed), then sleeps. It records its PID in `dir`.
fn worker(dir: &std::path::Path, image: &str) -> String {
    let script = format!(
        "echo $$$$ > {}/$HOSTNAME.pid; echo \"user: $(kubectl auth whoami -o jsonpath='{{.status.userInfo.username}}')\"; kubectl get configmaps -o name; kubectl get secrets; sleep 60",
        dir.display()
    );
    let command = serde_json::to_string(&["sh", "-c", &script]).unwrap();
    format!(
        r#"
apiVersion: v1
kind: ServiceAccount
metadata: {{name: worker}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: worker}}
rules:
- {{apiGroups: [""], resources: [configmaps], verbs: [get, list]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: worker}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: worker}}
subjects: [{{kind: ServiceAccount, name: worker}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: worker, labels: {{app: worker}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: worker}}}}
  template:
    metadata: {{labels: {{app: worker}}}}
    spec:
      serviceAccountName: worker
      containers:
      - name: main
        image: {image}
        command: {command}
"#
    )
}

fn rollout(s: &Scenario) {
    let out = s
        .kubectl(&["rollout", "status", "deployment/worker", "--timeout=30s"])
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("successfully rolled out"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn pod_names(s: &Scenario) -> Vec<String> {
    s.kubectl_ok(&[
        "get",
        "pods",
        "-l",
        "app=worker",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ])
    .unwrap()
    .split_whitespace()
    .map(String::from)
    .collect()
}

#[test]
fn deployment_pod_runs_as_its_service_account_and_is_recreated_when_killed() {
    let s = Scenario::start_with(TestCluster::builder().rbac(true)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    s.apply(&worker(dir.path(), "busybox:1.36")).unwrap();
    rollout(&s);
    let first = pod_names(&s);
    assert_eq!(first.len(), 1);

    // The process runs as system:serviceaccount:<ns>:worker, with exactly its Role's rights.
    let logs = wait_for("the pod's API calls", Duration::from_secs(20), || {
        let logs = s.kubectl_ok(&["logs", &first[0]]).ok()?;
        logs.contains("Forbidden").then_some(logs)
    });
    let me = format!("system:serviceaccount:{}:worker", s.namespace);
    assert!(logs.contains(&format!("user: {me}")), "{logs}");
    assert!(logs.contains("configmap/kube-root-ca.crt"), "{logs}");
    assert!(
        logs.contains(&format!(
            "secrets is forbidden: User \"{me}\" cannot list resource \"secrets\""
        )),
        "{logs}"
    );

    // Killing the pod gets a new one with a new process.
    let Some(_) = s.local() else { return };
    let old_pid = wait_for("the first process", Duration::from_secs(10), || {
        common::recorded_pids(dir.path()).first().copied()
    });
    s.kubectl_ok(&["delete", "pod", &first[0], "--wait=false"])
        .unwrap();
    wait_for("the old process to die", Duration::from_secs(10), || {
        (!common::process_exists(old_pid)).then_some(())
    });
    let second = wait_for("a replacement pod", Duration::from_secs(20), || {
        let names = pod_names(&s);
        (names.len() == 1 && names[0] != first[0]).then_some(names)
    });
    rollout(&s);
    wait_for("a new process", Duration::from_secs(20), || {
        common::recorded_pids(dir.path())
            .into_iter()
            .any(|p| p != old_pid && common::process_exists(p))
            .then_some(())
    });
    assert_ne!(second, first);
}

#[test]
fn template_changes_roll_out_and_scaling_follows_replicas() {
    let s = Scenario::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    s.apply(&worker(dir.path(), "busybox:1.36")).unwrap();
    rollout(&s);
    let before = pod_names(&s);
    s.kubectl_ok(&["set", "image", "deployment/worker", "main=busybox:1.37"])
        .unwrap();
    rollout(&s);
    let after = wait_for("the old pod to go", Duration::from_secs(20), || {
        let names = pod_names(&s);
        (names.len() == 1 && names != before).then_some(names)
    });
    let image = s
        .kubectl_ok(&[
            "get",
            "pod",
            &after[0],
            "-o",
            "jsonpath={.spec.containers[0].image}",
        ])
        .unwrap();
    assert_eq!(image, "busybox:1.37");
    let revision = s
        .kubectl_ok(&[
            "get",
            "deployment",
            "worker",
            "-o",
            "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
        ])
        .unwrap();
    assert_eq!(revision, "2");
    let sets = s.kubectl_ok(&["get", "replicasets", "-o", "name"]).unwrap();
    assert_eq!(
        sets.lines().count(),
        2,
        "the old ReplicaSet is kept, scaled to 0: {sets}"
    );

    s.kubectl_ok(&["scale", "deployment/worker", "--replicas=2"])
        .unwrap();
    rollout(&s);
    wait_for("two pods", Duration::from_secs(20), || {
        (pod_names(&s).len() == 2).then_some(())
    });
    s.kubectl_ok(&["rollout", "restart", "deployment/worker"])
        .unwrap();
    rollout(&s);
    let ready = s
        .kubectl_ok(&["get", "deployment", "worker", "-o", "jsonpath={.status.readyReplicas}/{.status.updatedReplicas}/{.status.conditions[?(@.type==\"Available\")].status}"])
        .unwrap();
    assert_eq!(ready, "2/2/True");
    let events = s.kubectl_ok(&["get", "events"]).unwrap();
    assert!(
        events.contains("ScalingReplicaSet") && events.contains("deployment/worker"),
        "{events}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_pod_kubeconfig_works_for_kube_rs() {
    let s = Scenario::start_with(TestCluster::builder().rbac(true)).unwrap();
    let Some(cluster) = s.local() else { return };
    let dir = tempfile::tempdir().unwrap();
    s.apply(&worker(dir.path(), "busybox")).unwrap();
    rollout(&s);
    let pod = pod_names(&s).remove(0);
    let uid = s
        .kubectl_ok(&["get", "pod", &pod, "-o", "jsonpath={.metadata.uid}"])
        .unwrap();
    // What Config::infer reads first: the KUBECONFIG the kubelet gives the process.
    let path = cluster
        .dir()
        .join("data/pods")
        .join(&uid)
        .join("serviceaccount/kubeconfig");
    let client = sluice_e2e::harness::client_from_kubeconfig(&path)
        .await
        .unwrap();
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::default_namespaced(client.clone());
    cms.list(&Default::default()).await.unwrap();
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::default_namespaced(client);
    match secrets.list(&Default::default()).await {
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 403),
        other => panic!("expected 403, got {other:?}"),
    }
    // The files a real pod has are there too.
    let sa = cluster
        .dir()
        .join("data/pods")
        .join(&uid)
        .join("serviceaccount");
    assert_eq!(
        std::fs::read_to_string(sa.join("namespace")).unwrap(),
        s.namespace
    );
    assert!(
        std::fs::read_to_string(sa.join("ca.crt"))
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
}

/// The shape the Helm chart renders: a `*sluice` image (mapped to a local executable), its own
/// service account, `args` only.
#[test]
fn chart_style_deployment_runs_the_mapped_executable_as_its_service_account() {
    let builder = TestCluster::builder()
        .rbac(true)
        .image(sluice_e2e::ImageRule::new(
            "*sluice",
            sluice_e2e::ImageTarget::Executable("/bin/sh".into()),
        ));
    let s = Scenario::start_with(builder).unwrap();
    if s.local().is_none() {
        return; // A real cluster would pull the image.
    }
    s.apply(
        r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: sluice-operator}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: sluice-operator}
spec:
  selector: {matchLabels: {app: sluice-operator}}
  template:
    metadata: {labels: {app: sluice-operator}}
    spec:
      serviceAccountName: sluice-operator
      containers:
      - name: operator
        image: ghcr.io/acme/sluice:dev
        args: ["-c", "kubectl auth whoami -o jsonpath='{.status.userInfo.username}'; echo; sleep 60"]
"#,
    )
    .unwrap();
    let out = s
        .kubectl(&[
            "rollout",
            "status",
            "deployment/sluice-operator",
            "--timeout=30s",
        ])
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let me = format!("system:serviceaccount:{}:sluice-operator", s.namespace);
    wait_for(
        "the operator's identity in its log",
        Duration::from_secs(20),
        || {
            let logs = s.kubectl_ok(&["logs", "deployment/sluice-operator"]).ok()?;
            logs.contains(&me).then_some(())
        },
    );
}
