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
    team_kubectl(&["apply", "-f", &sample("promotion-prod.yaml")])?;
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
