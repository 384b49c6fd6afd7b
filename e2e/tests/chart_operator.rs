//! The operator as the Helm chart installs it: a Deployment running the image as its service
//! account, with exactly the chart's RBAC, on a cluster enforcing RBAC and the approval
//! policy. The plan → approve → promote story passes there, and a permission taken away shows
//! up as a clear `Forbidden` condition instead of a hang.

mod support;

use anyhow::Result;
use serde_json::{Value, json};
use sluice_e2e::Scenario;
use support::helm::render_in;
use support::{MINUTE, exists, jsonpath, render, repo, sample, wait_until, warehouse_secret};

/// What the operator's service account was allowed to do in this run (the control plane's
/// request log) against what the chart grants it: it never needed anything it lacks, and every
/// grant was used, but for the few listed here with the reason this run does not use them.
fn least_privilege(s: &Scenario, release: &str) -> Result<()> {
    use std::collections::BTreeSet;
    let Some(cluster) = s.local() else {
        return Ok(()); // a real cluster's audit log is not ours to read
    };
    let account = format!("system:serviceaccount:{release}:sluice");
    let mut used = BTreeSet::new();
    for request in cluster.requests().iter().filter(|r| r.user == account) {
        assert_ne!(
            request.code, 403,
            "the operator was refused {} {}",
            request.verb, request.path
        );
        for check in &request.authorized {
            // Discovery and self-reviews are every authenticated user's (built-in roles).
            if check.path.is_some()
                || ["authentication.k8s.io", "authorization.k8s.io"].contains(&check.group.as_str())
            {
                continue;
            }
            let resource = if check.subresource.is_empty() {
                check.resource.clone()
            } else {
                format!("{}/{}", check.resource, check.subresource)
            };
            used.insert((check.group.clone(), resource, check.verb.clone()));
        }
    }
    let mut granted = BTreeSet::new();
    for file in [
        "operator.yaml",
        "operator-admission.yaml",
        "leader-election.yaml",
    ] {
        let text = std::fs::read_to_string(repo().join("config/rbac").join(file))?;
        let role: Value = serde_saphyr::from_str(&text)?;
        for rule in role["rules"].as_array().unwrap() {
            let strings = |key: &str| -> Vec<String> {
                rule[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect()
            };
            for group in strings("apiGroups") {
                for resource in strings("resources") {
                    for verb in strings("verbs") {
                        granted.insert((group.clone(), resource.clone(), verb));
                    }
                }
            }
        }
    }
    let not_granted: Vec<_> = used.difference(&granted).collect();
    assert!(
        not_granted.is_empty(),
        "used without a grant: {not_granted:?}"
    );
    // Granted for work this run does not do.
    let unused_on_purpose: BTreeSet<(String, String, String)> = [
        (
            "sluice.dev",
            "environments",
            "delete",
            "an ephemeral Environment expires",
        ),
        (
            "batch",
            "jobs",
            "delete",
            "a Job failed because the warehouse was unreachable",
        ),
        (
            "sluice.dev",
            "promotions/status",
            "get",
            "a lineage event is retried",
        ),
        (
            "source.toolkit.fluxcd.io",
            "gitrepositories",
            "get",
            "a Plan reads a Flux source",
        ),
        (
            "source.toolkit.fluxcd.io",
            "ocirepositories",
            "get",
            "a Plan reads a Flux source",
        ),
        (
            "source.toolkit.fluxcd.io",
            "buckets",
            "get",
            "a Plan reads a Flux source",
        ),
        // Real API servers check these (OwnerReferencesPermissionEnforcement) for the owner
        // references the operator sets with blockOwnerDeletion; the test control plane does not.
        (
            "sluice.dev",
            "environments/finalizers",
            "update",
            "owner references, checked by real API servers",
        ),
        (
            "sluice.dev",
            "plans/finalizers",
            "update",
            "owner references, checked by real API servers",
        ),
        (
            "sluice.dev",
            "promotions/finalizers",
            "update",
            "owner references, checked by real API servers",
        ),
        // The lease manager creates the Lease once and then patches it.
        (
            "coordination.k8s.io",
            "leases",
            "update",
            "the lease manager patches instead",
        ),
    ]
    .into_iter()
    .map(|(g, r, v, _why)| (g.to_string(), r.to_string(), v.to_string()))
    .collect();
    let unused: BTreeSet<_> = granted.difference(&used).cloned().collect();
    assert_eq!(
        unused, unused_on_purpose,
        "granted but never used (remove the grant, or say why it is needed)"
    );
    Ok(())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// kubectl as one of the cluster's users (their own token, so their groups come along).
fn kubectl_as(s: &Scenario, user: &str, namespace: &str, args: &[&str]) -> Result<String> {
    let cluster = s.local().expect("a local cluster");
    let out: std::process::Output = cluster
        .kubectl(user)
        .arg("-n")
        .arg(namespace)
        .args(args)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "kubectl {args:?} as {user}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_charts_operator_promotes_with_its_own_rbac_and_reports_a_missing_permission() -> Result<()> {
    let s = Scenario::start_with(
        support::cluster()
            .rbac(true)
            .user("alice", "alice-token", &["data-owners"])
            .user("bob", "bob-token", &[]),
    )?;
    let release = s.namespace.clone();
    let team = format!("{release}-team");
    s.apply(&format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {team}\n"
    ))?;
    let values = json!({
        "metrics": {"port": free_port(), "service": {"enabled": false}},
        "probes": {"port": free_port()},
        "logLevel": "info,kube=warn,postgres=warn",
    });
    render_in(values, &release).apply(&s);
    s.kubectl_ok(&[
        "rollout",
        "status",
        "deployment/sluice",
        "-n",
        &release,
        "--timeout=60s",
    ])?;
    let pod_user = jsonpath(&s, "pods", "{.items[0].spec.serviceAccountName}");
    assert_eq!(
        pod_user, "sluice",
        "the operator runs as the chart's service account"
    );

    // The team: a warehouse, the sample Environments, approvers.
    let url = support::postgres::postgres_url();
    let team_kubectl = |args: &[&str]| {
        let mut all = vec!["-n", team.as_str()];
        all.extend_from_slice(args);
        s.kubectl_ok(&all)
    };
    s.kubectl_stdin(
        &["apply", "-n", &team, "-f", "-"],
        Some(&warehouse_secret(&url)),
    )?;
    team_kubectl(&["apply", "-f", &sample("environment-prod.yaml")])?;
    for user in ["alice", "bob"] {
        team_kubectl(&[
            "create",
            "rolebinding",
            &format!("{user}-approves"),
            "--clusterrole=sluice-approver",
            &format!("--user={user}"),
        ])?;
    }
    let manifests = render(&repo().join("config/samples/shop"), "prod", "shop-v1", None)?;
    s.kubectl_stdin(&["apply", "-n", &team, "-f", "-"], Some(&manifests))?;
    let context = || {
        let pods =
            team_kubectl(&["get", "plans,promotions,jobs,pods", "-o", "yaml"]).unwrap_or_default();
        let logs = s
            .kubectl_ok(&["logs", "deployment/sluice", "-n", &release, "--tail=50"])
            .unwrap_or_default();
        format!("{pods}\n--- operator log ---\n{logs}")
    };
    let team_path = |what: &str, path: &str| {
        team_kubectl(&["get", what, "-o", &format!("jsonpath={path}")]).unwrap_or_default()
    };
    wait_until("the plan to be Ready", 3 * MINUTE, context, || {
        (team_path("plan/shop-v1", "{.status.phase}") == "Ready").then_some(())
    })?;
    s.kubectl_stdin(
        &["apply", "-n", &team, "-f", "-"],
        Some(&support::sample_manifest("promotion-prod.yaml")),
    )?;
    let digest = team_path("plan/shop-v1", "{.status.digest}");
    for user in ["alice", "bob"] {
        kubectl_as(
            &s,
            user,
            &team,
            &[
                "annotate",
                "promotion/shop-v1-prod",
                &format!("approve.sluice.dev/{user}={user}@{digest}"),
            ],
        )?;
    }
    wait_until("the promotion to flip prod", 2 * MINUTE, context, || {
        (team_path("promotion/shop-v1-prod", "{.status.phase}") == "Promoted").then_some(())
    })?;
    assert!(exists(&url, "mart.daily_revenue"));

    // More of what the operator does: promote a dev plan by itself, and report a failed Job.
    team_kubectl(&["apply", "-f", &sample("environment-dev.yaml")])?;
    s.kubectl_stdin(
        &["apply", "-n", &team, "-f", "-"],
        Some(&render(
            &repo().join("config/samples/shop"),
            "dev",
            "shop-dev",
            None,
        )?),
    )?;
    wait_until("dev to promote by itself", 2 * MINUTE, context, || {
        (team_path("promotion/shop-dev-auto", "{.status.phase}") == "Promoted").then_some(())
    })?;
    let broken = support::copy_project(&repo().join("config/samples/shop"))?;
    std::fs::write(
        broken.path().join("models/mart/bad.sql"),
        "MODEL (\n  name mart.bad,\n  kind FULL,\n  audits (not_null(columns := [x]))\n);\n\nSELECT CAST(NULL AS INTEGER) AS x\n",
    )?;
    s.kubectl_stdin(
        &["apply", "-n", &team, "-f", "-"],
        Some(&render(broken.path(), "prod", "bad", None)?),
    )?;
    wait_until("the broken plan to fail", 2 * MINUTE, context, || {
        (team_path("plan/bad", "{.status.phase}") == "Failed").then_some(())
    })?;
    least_privilege(&s, &release)?;

    // Take the permission to create Jobs away: the next plan says so instead of waiting forever.
    let role = s.kubectl_ok(&["get", "clusterrole", "sluice-operator", "-o", "json"])?;
    let mut role: Value = serde_json::from_str(&role)?;
    role["rules"]
        .as_array_mut()
        .unwrap()
        .retain(|r| r["apiGroups"] != json!(["batch"]));
    role["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    s.kubectl_stdin(&["replace", "-f", "-"], Some(&role.to_string()))?;
    let changed = support::copy_project(&repo().join("config/samples/shop"))?;
    std::fs::copy(
        repo().join("config/samples/shop-changes/daily_revenue_breaking.sql"),
        changed.path().join("models/mart/daily_revenue.sql"),
    )?;
    s.kubectl_stdin(
        &["apply", "-n", &team, "-f", "-"],
        Some(&render(changed.path(), "prod", "shop-v2", None)?),
    )?;
    let reason = wait_until("a Forbidden condition", 2 * MINUTE, context, || {
        let r = team_path(
            "plan/shop-v2",
            "{.status.conditions[?(@.type==\"Reconciling\")].reason}",
        );
        (r == "Forbidden").then_some(r)
    })?;
    assert_eq!(reason, "Forbidden");
    let message = team_path(
        "plan/shop-v2",
        "{.status.conditions[?(@.type==\"Reconciling\")].message}",
    );
    assert!(
        message.contains("403") && message.contains("jobs") && message.contains("RBAC"),
        "{message}"
    );
    let events = team_kubectl(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=shop-v2",
    ])?;
    assert!(events.contains("Forbidden"), "{events}");
    Ok(())
}
