//! The Helm chart (`charts/sluice`), rendered and linted by Helm's own engine (Helm 4's Go SDK,
//! through helm-python-sdk and `e2e/helm/render.py`), then installed on the test control plane
//! to check the operator's permissions with real RBAC.
//!
//! Needs the venv `scripts/helm-venv` creates (or `SLUICE_HELM_PYTHON`).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};
use sluice_e2e::{Scenario, TestCluster};

mod support;

use support::helm::{Rendered, chart, helm, install_hint, pinned_sdk, render_in};
use support::{FLUX_GITREPOSITORY_CRD, repo};

const RELEASE_NAMESPACE: &str = "sluice-system";

fn render(values: Value) -> Rendered {
    render_in(values, RELEASE_NAMESPACE)
}

/// The error rendering with `values` gives (as `helm template` / `helm install` would).
fn render_error(values: Value) -> String {
    let answer = helm(&[
        "render",
        chart().to_str().unwrap(),
        "--values",
        &values.to_string(),
    ]);
    match answer.get("error") {
        Some(e) => e["message"].as_str().unwrap().to_string(),
        None => panic!("values {values} were accepted"),
    }
}

/// A YAML file of the repository, parsed as Helm and Kubernetes parse it.
fn parse(path: &str) -> Value {
    let full = repo().join(path);
    let answer = helm(&["parse", full.to_str().unwrap()]);
    let docs = answer["documents"][full.to_str().unwrap()]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(docs.len(), 1, "{path}: one document expected");
    docs[0].clone()
}

fn args_of(deployment: &Value) -> Vec<String> {
    deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn helm_python_sdk_is_the_pinned_version() {
    let version = helm(&["version"]);
    assert_eq!(version["sdk"], pinned_sdk().as_str(), "{}", install_hint());
    assert!(
        version["helm"].as_str().unwrap().starts_with("v4."),
        "{version}"
    );
}

#[test]
fn lint_is_clean_in_strict_mode() {
    for values in [
        json!({}),
        json!({"watchNamespaces": ["team-a", "team-b"]}),
        json!({
            "replicas": 2,
            "podDisruptionBudget": {"enabled": true},
            "metrics": {"serviceMonitor": {"enabled": true}},
            "image": {"digest": format!("sha256:{}", "a".repeat(64))},
        }),
    ] {
        let report = helm(&[
            "lint",
            chart().to_str().unwrap(),
            "--values",
            &values.to_string(),
        ]);
        assert_eq!(report["total_charts_linted"], 1, "{report}");
        assert_eq!(report["errors"], json!([]), "lint with {values}: {report}");
        // Only informational notes remain (the chart has no icon to point at).
        for message in report["messages"].as_array().unwrap() {
            assert!(
                message["severity"].as_i64().unwrap() < 2
                    && message["error"] == "icon is recommended",
                "lint with {values}: {message}"
            );
        }
    }
}

#[test]
fn default_values_run_one_operator_for_every_namespace() {
    let r = render(json!({}));
    let expected: BTreeSet<String> = [
        "CustomResourceDefinition environments.sluice.dev",
        "CustomResourceDefinition plans.sluice.dev",
        "CustomResourceDefinition promotions.sluice.dev",
        "ServiceAccount sluice@sluice-system",
        "ClusterRole sluice-operator",
        "ClusterRoleBinding sluice-operator",
        "ClusterRole sluice-operator-admission",
        "ClusterRoleBinding sluice-operator-admission",
        "Role sluice-leader-election@sluice-system",
        "RoleBinding sluice-leader-election@sluice-system",
        "ClusterRole sluice-approver",
        "ClusterRole sluice-releaser",
        "ClusterRole sluice-editor",
        "ClusterRole sluice-viewer",
        "ValidatingAdmissionPolicy sluice-approvals",
        "ValidatingAdmissionPolicyBinding sluice-approvals",
        "ValidatingAdmissionPolicy sluice-managed-objects",
        "ValidatingAdmissionPolicyBinding sluice-managed-objects",
        "Deployment sluice@sluice-system",
        "Service sluice-metrics@sluice-system",
    ]
    .map(String::from)
    .into();
    assert_eq!(r.names(), expected);

    let deployment = r.get("Deployment", "sluice");
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(
        args_of(deployment),
        [
            "operator",
            "--leader-elect",
            "--lease-namespace",
            "sluice-system",
            "--metrics-addr",
            "0.0.0.0:8080",
            "--probe-addr",
            "0.0.0.0:8081",
            "--job-image",
            "ghcr.io/sluice-dev/sluice:0.1.0",
            "--concurrency",
            "4",
            "--job-backoff-limit",
            "2",
            "--approval-policy",
            "sluice-approvals",
            "--job-resources",
            r#"{"limits":{"memory":"2Gi"},"requests":{"cpu":"100m","memory":"256Mi"}}"#,
            "--job-active-deadline-seconds",
            "21600",
        ]
    );
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "ghcr.io/sluice-dev/sluice:0.1.0");
    assert_eq!(pod["serviceAccountName"], "sluice");
    // Downward API.
    let env = container["env"].as_array().unwrap();
    let field = |name: &str| {
        env.iter().find(|e| e["name"] == name).unwrap()["valueFrom"]["fieldRef"]["fieldPath"]
            .clone()
    };
    assert_eq!(field("POD_NAME"), "metadata.name");
    assert_eq!(field("POD_NAMESPACE"), "metadata.namespace");
    // Probes on the probe port, metrics on its own.
    assert_eq!(
        container["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "probes"})
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "probes"})
    );
    assert_eq!(
        container["ports"],
        json!([
            {"name": "metrics", "containerPort": 8080, "protocol": "TCP"},
            {"name": "probes", "containerPort": 8081, "protocol": "TCP"},
        ])
    );
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
    // Non-root, read-only root filesystem (with a writable /tmp), no privilege escalation.
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let sc = &container["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(
        container["volumeMounts"],
        json!([{"name": "tmp", "mountPath": "/tmp"}])
    );
    // /tmp is bounded: a hostile project cannot fill the node.
    assert_eq!(
        pod["volumes"],
        json!([{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}])
    );

    // The metrics Service selects the operator's pods.
    let service = r.get("Service", "sluice-metrics");
    let pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap();
    for (k, v) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(pod_labels.get(k), Some(v), "selector {k}");
    }
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
    assert!(r.find("ServiceMonitor", "sluice").is_none());

    // The operator's rules are config/rbac/operator.yaml's, cluster-wide, bound to its account.
    let operator_rules = parse("config/rbac/operator.yaml")["rules"].clone();
    assert_eq!(
        r.get("ClusterRole", "sluice-operator")["rules"],
        operator_rules
    );
    assert_eq!(
        r.get("ClusterRoleBinding", "sluice-operator")["subjects"],
        json!([{"kind": "ServiceAccount", "name": "sluice", "namespace": "sluice-system"}])
    );
    assert_eq!(
        r.get("Role", "sluice-leader-election")["rules"],
        parse("config/rbac/leader-election.yaml")["rules"]
    );
    assert!(
        r.all("Role")
            .iter()
            .all(|role| role["metadata"]["name"] != "sluice-operator")
    );

    // NOTES tell the next steps with the release's names.
    for step in [
        "kubectl -n sluice-system rollout status deployment/sluice",
        "watching every namespace",
        "--clusterrole=sluice-approver",
        "kubectl sluice approve",
        "config/argocd",
    ] {
        assert!(r.notes.contains(step), "NOTES lack {step:?}:\n{}", r.notes);
    }
}

#[test]
fn namespaced_mode_grants_roles_only_in_the_watched_namespaces() {
    let r = render(json!({"watchNamespaces": ["team-a", "team-b"]}));
    // Only reading the (cluster-scoped) admission policies is cluster-wide.
    let cluster_bindings: Vec<String> = r
        .all("ClusterRoleBinding")
        .iter()
        .map(|b| b["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(cluster_bindings, ["sluice-operator-admission"]);
    assert_eq!(
        r.get("ClusterRole", "sluice-operator-admission")["rules"],
        parse("config/rbac/operator-admission.yaml")["rules"]
    );
    assert!(r.find("ClusterRole", "sluice-operator").is_none());
    let operator_rules = parse("config/rbac/operator.yaml")["rules"].clone();
    for ns in ["team-a", "team-b"] {
        let role = r
            .all("Role")
            .into_iter()
            .find(|o| {
                o["metadata"]["name"] == "sluice-operator" && o["metadata"]["namespace"] == ns
            })
            .unwrap_or_else(|| panic!("no Role in {ns}: {:?}", r.names()));
        assert_eq!(role["rules"], operator_rules);
        let binding = r
            .all("RoleBinding")
            .into_iter()
            .find(|o| {
                o["metadata"]["name"] == "sluice-operator" && o["metadata"]["namespace"] == ns
            })
            .unwrap();
        assert_eq!(
            binding["roleRef"],
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "sluice-operator"})
        );
        assert_eq!(binding["subjects"][0]["namespace"], "sluice-system");
    }
    let args = args_of(r.get("Deployment", "sluice"));
    assert!(
        args.windows(4).any(|w| w
            == ["--watch-namespace", "team-a", "--watch-namespace", "team-b"].map(String::from)),
        "{args:?}"
    );
    // The admission policies apply where the operator works.
    for binding in ["sluice-approvals", "sluice-managed-objects"] {
        assert_eq!(
            r.get("ValidatingAdmissionPolicyBinding", binding)["spec"]["matchResources"],
            json!({"namespaceSelector": {"matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a", "team-b"]}
            ]}}),
            "{binding}"
        );
    }
    assert!(r.notes.contains("watching team-a, team-b"), "{}", r.notes);
}

/// `metadata` without what the chart adds (labels, annotations).
fn without_chart_metadata(mut object: Value) -> Value {
    let meta = object["metadata"].as_object_mut().unwrap();
    meta.remove("labels");
    meta.remove("annotations");
    object
}

#[test]
fn crds_are_the_generated_ones_and_stay_on_uninstall() {
    let r = render(json!({}));
    for file in [
        "sluice.dev_environments.yaml",
        "sluice.dev_plans.yaml",
        "sluice.dev_promotions.yaml",
    ] {
        let expected = parse(&format!("crds/{file}"));
        let name = expected["metadata"]["name"].as_str().unwrap().to_string();
        let name = name.as_str();
        let crd = r.get("CustomResourceDefinition", name);
        assert_eq!(
            crd["metadata"]["annotations"]["helm.sh/resource-policy"], "keep",
            "{name}"
        );
        assert_eq!(
            crd["metadata"]["labels"]["app.kubernetes.io/part-of"],
            "sluice"
        );
        assert_eq!(
            without_chart_metadata(crd.clone()),
            without_chart_metadata(expected),
            "the chart's {name} differs from crds/{file}: run scripts/sync-chart"
        );
    }
    let unkept = render(json!({"crds": {"keep": false}}));
    for crd in unkept.all("CustomResourceDefinition") {
        assert!(
            crd["metadata"]["annotations"]
                .get("helm.sh/resource-policy")
                .is_none()
        );
    }
    let none = render(json!({"crds": {"install": false}}));
    assert!(none.all("CustomResourceDefinition").is_empty());
    assert!(
        none.notes.contains("The CRDs were not installed"),
        "{}",
        none.notes
    );
}

#[test]
fn people_roles_and_the_approval_policy_are_the_shipped_files() {
    let r = render(json!({}));
    for role in ["approver", "releaser", "editor", "viewer"] {
        let shipped = parse(&format!("config/rbac/{role}.yaml"));
        let rendered = r.get("ClusterRole", &format!("sluice-{role}"));
        assert_eq!(rendered["rules"], shipped["rules"], "{role}");
    }
    let labels = |name: &str| r.get("ClusterRole", name)["metadata"]["labels"].clone();
    assert_eq!(
        labels("sluice-viewer")["rbac.authorization.k8s.io/aggregate-to-view"],
        "true"
    );
    assert_eq!(
        labels("sluice-editor")["rbac.authorization.k8s.io/aggregate-to-edit"],
        "true"
    );
    assert!(
        !labels("sluice-approver")
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.contains("aggregate")),
        "approving is never aggregated into the built-in roles"
    );
    assert!(
        r.get("ClusterRole", "sluice-approver")["rules"][0]["verbs"]
            .as_array()
            .unwrap()
            .contains(&json!("approve"))
    );
    assert!(
        r.get("ClusterRole", "sluice-approver")["rules"][0]["verbs"]
            .as_array()
            .unwrap()
            .contains(&json!("rollback"))
    );
    for (name, file) in [
        ("sluice-approvals", "approval-policy"),
        ("sluice-managed-objects", "managed-objects-policy"),
    ] {
        let policy = r.get("ValidatingAdmissionPolicy", name);
        assert_eq!(
            policy["spec"],
            parse(&format!("config/policy/{file}.yaml"))["spec"]
        );
        let binding = r.get("ValidatingAdmissionPolicyBinding", name);
        assert_eq!(
            binding["spec"],
            parse(&format!("config/policy/{file}-binding.yaml"))["spec"]
        );
    }

    // Another release name prefixes everything cluster-scoped, consistently.
    let other = render(
        json!({"fullnameOverride": "acme-sluice", "rbac": {"userRoles": {"aggregateToDefaultRoles": false}}}),
    );
    assert!(
        other.find("ClusterRole", "acme-sluice-approver").is_some(),
        "{:?}",
        other.names()
    );
    assert!(other.find("ClusterRole", "acme-sluice-operator").is_some());
    assert_eq!(
        other.get("ValidatingAdmissionPolicyBinding", "acme-sluice-approvals")["spec"]["policyName"],
        "acme-sluice-approvals"
    );
    assert!(
        other.notes.contains("--clusterrole=acme-sluice-editor"),
        "{}",
        other.notes
    );
    assert!(
        other.get("ClusterRole", "acme-sluice-viewer")["metadata"]["labels"]
            .get("rbac.authorization.k8s.io/aggregate-to-view")
            .is_none()
    );
    // The operator is told which policy to verify.
    let args = args_of(other.get("Deployment", "acme-sluice"));
    assert!(
        args.windows(2)
            .any(|w| w == ["--approval-policy", "acme-sluice-approvals"]),
        "{args:?}"
    );
    // Turned off: refused, unless forged approvals are accepted by name; then no policy, the
    // operator counts approvals without it, and the NOTES say what that means.
    let error = render_error(json!({"approvalPolicy": {"enabled": false}}));
    assert!(
        error.contains("approvalPolicy.enabled=false leaves approvals unverifiable")
            && error.contains("approvalPolicy.acceptForgedApprovals=true"),
        "{error}"
    );
    let off = render(json!({"approvalPolicy": {"enabled": false, "acceptForgedApprovals": true}}));
    assert!(off.all("ValidatingAdmissionPolicy").is_empty());
    assert!(
        args_of(off.get("Deployment", "sluice")).contains(&"--accept-unverified-approvals".into())
    );
    assert!(
        off.notes
            .contains("WARNING: approvalPolicy.enabled is false"),
        "{}",
        off.notes
    );
}

#[test]
fn optional_parts_render_when_asked() {
    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let r = render(json!({
        "replicas": 2,
        "podDisruptionBudget": {"enabled": true},
        "metrics": {"serviceMonitor": {"enabled": true, "labels": {"release": "prometheus"}}},
        "image": {"digest": digest},
        "jobImage": "registry.example.com/sluice-jobs:1.2.3",
        "leaderElection": {"enabled": false},
        "jobs": {"concurrency": 8, "backoffLimit": 0, "serviceAccountName": "sluice-jobs"},
    }));
    let monitor = r.get("ServiceMonitor", "sluice");
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    assert_eq!(
        monitor["spec"]["endpoints"][0],
        json!({"port": "metrics", "path": "/metrics", "interval": "30s"})
    );
    // Never blocks a drain, whatever the replicas.
    assert_eq!(
        r.get("PodDisruptionBudget", "sluice")["spec"],
        json!({"maxUnavailable": 1, "selector": {"matchLabels": {
            "app.kubernetes.io/name": "sluice", "app.kubernetes.io/instance": "sluice",
            "app.kubernetes.io/component": "operator"}}})
    );
    let deployment = r.get("Deployment", "sluice");
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("ghcr.io/sluice-dev/sluice@{digest}")
    );
    let args = args_of(deployment);
    assert!(!args.contains(&"--leader-elect".to_string()), "{args:?}");
    assert!(
        args.windows(2)
            .any(|w| w == ["--job-image", "registry.example.com/sluice-jobs:1.2.3"])
    );
    assert!(r.find("Role", "sluice-leader-election").is_none());
    for pair in [
        ["--concurrency", "8"],
        ["--job-backoff-limit", "0"],
        ["--job-service-account", "sluice-jobs"],
    ] {
        assert!(args.windows(2).any(|w| w == pair), "{pair:?} in {args:?}");
    }
}

#[test]
fn the_values_schema_rejects_bad_values_with_a_clear_message() {
    for (values, message) in [
        (
            json!({"replicas": "two"}),
            "at '/replicas': got string, want integer",
        ),
        (
            json!({"replica": 2}),
            "additional properties 'replica' not allowed",
        ),
        (
            json!({"image": {"pullPolicy": "Sometimes"}}),
            "at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'",
        ),
        (
            json!({"image": {"tag": 1.5}}),
            "at '/image/tag': got number, want string",
        ),
        (json!({"image": {"digest": "latest"}}), "at '/image/digest'"),
        (
            json!({"watchNamespaces": "team-a"}),
            "at '/watchNamespaces': got string, want array",
        ),
        (
            json!({"watchNamespaces": ["Team_A"]}),
            "at '/watchNamespaces/0': 'Team_A' does not match pattern",
        ),
        (
            json!({"leaderElection": {"enabled": "yes"}}),
            "at '/leaderElection/enabled': got string, want boolean",
        ),
        (json!({"metrics": {"port": 70000}}), "at '/metrics/port'"),
        (
            json!({"metrics": {"serviceMonitor": {"interval": "often"}}}),
            "at '/metrics/serviceMonitor/interval'",
        ),
        (
            json!({"resources": {"limits": {"memory": "lots"}}}),
            "at '/resources/limits/memory'",
        ),
    ] {
        let error = render_error(values.clone());
        assert!(
            error.contains(message),
            "{values}: expected {message:?} in {error:?}"
        );
    }
    // A template-level rule, worded for people.
    let error = render_error(
        json!({"metrics": {"service": {"enabled": false}, "serviceMonitor": {"enabled": true}}}),
    );
    assert!(
        error.contains("metrics.serviceMonitor.enabled needs metrics.service.enabled"),
        "{error}"
    );
}

/// Relative paths and contents of the `.yaml` files directly in `dir`.
fn yaml_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn chart_files_are_the_repository_files() {
    for (source, copy) in [
        ("crds", "charts/sluice/files/crds"),
        ("config/rbac", "charts/sluice/files/rbac"),
        ("config/policy", "charts/sluice/files/policy"),
    ] {
        let source_files = yaml_files(&repo().join(source));
        let copies = yaml_files(&repo().join(copy));
        let names = |f: &[(String, Vec<u8>)]| f.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&copies),
            names(&source_files),
            "{copy} vs {source}: run scripts/sync-chart"
        );
        for ((name, a), (_, b)) in source_files.iter().zip(&copies) {
            assert!(
                a == b,
                "{copy}/{name} differs from {source}/{name}: run scripts/sync-chart"
            );
        }
    }
}

/// `kubectl auth can-i` for the operator's service account.
fn operator_can(s: &Scenario, release_ns: &str, args: &[&str]) -> bool {
    let mut all = vec![
        "auth".to_string(),
        "can-i".to_string(),
        format!("--as=system:serviceaccount:{release_ns}:sluice"),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let out = s.kubectl(&all).unwrap();
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        answer == "yes" || answer == "no",
        "can-i {args:?}: {answer} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    answer == "yes"
}

fn namespace(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

#[test]
fn the_installed_operator_may_do_what_it_needs_and_no_more() {
    let s = Scenario::start_with(TestCluster::builder().rbac(true)).unwrap();
    let release = s.namespace.clone();
    let team = format!("{release}-team");
    s.apply(&namespace(&team)).unwrap();
    s.apply(FLUX_GITREPOSITORY_CRD).unwrap();
    let r = render_in(json!({}), &release);
    r.apply(&s);
    s.kubectl_ok(&["get", "deployment/sluice", "serviceaccount/sluice"])
        .unwrap();
    // The CRDs the chart installed are served.
    s.kubectl_ok(&["get", "plans,promotions,environments", "-n", &team])
        .unwrap();

    let can = |args: &[&str]| operator_can(&s, &release, args);
    for needed in [
        vec!["watch", "promotions.sluice.dev", "--all-namespaces"],
        vec!["patch", "plans.sluice.dev", "-n", &team],
        vec![
            "patch",
            "plans.sluice.dev",
            "--subresource=status",
            "-n",
            &team,
        ],
        vec![
            "update",
            "environments.sluice.dev",
            "--subresource=finalizers",
            "-n",
            &team,
        ],
        vec!["create", "jobs.batch", "-n", &team],
        vec!["delete", "jobs.batch", "-n", &team],
        vec!["get", "pods", "--subresource=log", "-n", &team],
        vec!["create", "configmaps", "-n", &team],
        vec!["get", "secrets", "-n", &team],
        vec!["create", "events.events.k8s.io", "-n", &team],
        vec![
            "get",
            "gitrepositories.source.toolkit.fluxcd.io",
            "-n",
            &team,
        ],
        vec![
            "get",
            "validatingadmissionpolicies.admissionregistration.k8s.io",
        ],
        vec!["update", "leases.coordination.k8s.io", "-n", &release],
    ] {
        assert!(can(&needed), "the operator needs: {needed:?}");
    }
    for refused in [
        vec!["create", "secrets", "-n", &team],
        vec!["update", "secrets", "-n", &team],
        // Secrets by name only, never listed or watched; no pod is watched.
        vec!["list", "secrets", "-n", &team],
        vec!["watch", "secrets", "-n", &team],
        vec!["watch", "pods", "-n", &team],
        vec!["list", "configmaps", "-n", &team],
        vec![
            "patch",
            "validatingadmissionpolicies.admissionregistration.k8s.io",
        ],
        vec!["create", "pods", "-n", &team],
        vec!["delete", "pods", "-n", &team],
        vec!["create", "plans.sluice.dev", "-n", &team],
        vec!["delete", "promotions.sluice.dev", "-n", &team],
        vec!["approve", "promotions.sluice.dev", "-n", &team],
        vec!["create", "deployments.apps", "-n", &team],
        vec!["update", "leases.coordination.k8s.io", "-n", &team],
        vec![
            "create",
            "rolebindings.rbac.authorization.k8s.io",
            "-n",
            &team,
        ],
        vec!["patch", "customresourcedefinitions.apiextensions.k8s.io"],
    ] {
        assert!(
            !can(&refused),
            "the operator should not be allowed: {refused:?}"
        );
    }
}

#[test]
fn in_namespaced_mode_the_operator_reaches_only_its_namespaces() {
    let s = Scenario::start_with(TestCluster::builder().rbac(true)).unwrap();
    let release = s.namespace.clone();
    let (team_a, team_b, other) = (
        format!("{release}-a"),
        format!("{release}-b"),
        format!("{release}-other"),
    );
    for ns in [&team_a, &team_b, &other] {
        s.apply(&namespace(ns)).unwrap();
    }
    let r = render_in(json!({"watchNamespaces": [team_a, team_b]}), &release);
    r.apply(&s);
    let can = |args: &[&str]| operator_can(&s, &release, args);
    for ns in [&team_a, &team_b] {
        assert!(can(&["watch", "plans.sluice.dev", "-n", ns]));
        assert!(can(&["create", "jobs.batch", "-n", ns]));
        assert!(can(&["get", "secrets", "-n", ns]));
    }
    assert!(!can(&["watch", "plans.sluice.dev", "-n", &other]));
    assert!(!can(&["get", "secrets", "-n", &other]));
    assert!(!can(&["list", "plans.sluice.dev", "--all-namespaces"]));
    assert!(can(&[
        "update",
        "leases.coordination.k8s.io",
        "-n",
        &release
    ]));
}
