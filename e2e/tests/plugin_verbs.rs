//! Every other `kubectl sluice` verb through the real plugin: render (applied with kubectl),
//! get / inspect (trees, lists, -o json|yaml, --watch), promote, releases, rollback, status
//! with its exit codes, retry, completion, and kubectl's connection flags.

mod plugin_support;
mod support;

use std::process::Stdio;

use anyhow::Result;
use plugin_support::{Team, changed_shop, golden, kubectl_sluice, normalize, status_watch};
use support::{MINUTE, jsonpath, psql, repo, wait_until};

/// An environment that needs no approval, for the release mechanics.
const STAGING: &str = "apiVersion: sluice.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: staging\n\
spec:\n  warehouse:\n    secretRef: {name: warehouse, key: url}\n  promotion:\n    requiredApprovals: 0\n";

/// The name in `promotion.sluice.dev/<name> created: ...`.
fn created(out: &str) -> String {
    out.strip_prefix("promotion.sluice.dev/")
        .and_then(|rest| rest.split_once(' '))
        .map(|(name, _)| name.to_string())
        .unwrap_or_else(|| panic!("no promotion created in: {out}"))
}

#[test]
fn releases_are_inspected_promoted_listed_and_rolled_back() -> Result<()> {
    let team = Team::start()?;
    let s = &team.shop.s;
    s.apply(STAGING)?;
    let manifests = team.render_and_apply(
        &repo().join("config/samples/shop"),
        "staging",
        "shop-v1",
        None,
    )?;
    assert!(
        manifests.contains("kind: ConfigMap") && manifests.contains("name: shop-v1-source"),
        "{manifests}"
    );
    team.sluice_exit("mallory", &status_watch("plan/shop-v1"), 0)?;

    // `get --watch` repaints as the plan is promoted (no terminal: a frame per change).
    let frames = tempfile::NamedTempFile::new()?;
    let mut watching = kubectl_sluice(
        s.kubeconfig(),
        &["get", "plan", "shop-v1", "--watch", "-n", &s.namespace],
    )
    .stdout(frames.reopen()?)
    .stderr(Stdio::null())
    .spawn()?;
    let out = team.sluice_ok("mallory", &["promote", "shop-v1"])?;
    assert_eq!(created(&out), "shop-v1-staging");
    let (out, _) = team.sluice_exit("mallory", &status_watch("shop-v1-staging"), 0)?;
    assert!(
        out.ends_with("Promoted - release staging-r1 is live\n"),
        "{out}"
    );
    let watched = wait_until(
        "get --watch to show the plan promoted",
        MINUTE,
        || std::fs::read_to_string(frames.path()).unwrap_or_default(),
        || {
            let text = std::fs::read_to_string(frames.path()).unwrap_or_default();
            normalize(&text, "")
                .contains("Status: ✔ Promoted")
                .then_some(text)
        },
    )?;
    watching.kill()?;
    watching.wait()?;
    assert!(
        watched.contains("✔ Ready") && watched.contains("shop-v1-staging"),
        "{watched}"
    );
    assert!(
        watched.matches("Name:").count() >= 2,
        "one frame per change:\n{watched}"
    );

    // A second release, then two rollbacks.
    let v2 = changed_shop()?;
    team.render_and_apply(v2.path(), "staging", "shop-v2", None)?;
    team.sluice_exit("mallory", &status_watch("plan/shop-v2"), 0)?;
    let shown = team.sluice_ok("mallory", &["inspect", "plan", "shop-v2"])?;
    golden("plan_ready.txt", &normalize(&shown, &s.namespace));
    let v2_promotion = created(&team.sluice_ok("mallory", &["promote", "shop-v2"])?);
    team.sluice_exit("mallory", &status_watch(&v2_promotion), 0)?;
    // Rolling back is a releaser's act (oscar), not an editor's.
    let (_, err) = team.sluice_exit("mallory", &["rollback", "staging"], 1)?;
    assert!(
        err.contains("mallory may not roll back environment"),
        "{err}"
    );
    let out = team.sluice_ok("oscar", &["rollback", "staging"])?;
    assert!(
        out.contains(
            "rolls staging back from staging-r2 to the release before it (created by oscar)"
        ),
        "{out}"
    );
    let (out, _) = team.sluice_exit("mallory", &status_watch(&created(&out)), 0)?;
    assert!(
        out.ends_with("Promoted - release staging-r3 is live\n"),
        "{out}"
    );
    assert_eq!(
        psql(
            &team.shop.url,
            "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = 'stg__staging' AND table_name = 'orders' AND column_name = 'is_returned'"
        )?,
        ["0"],
        "back on shop-v1's tables"
    );
    let out = team.sluice_ok("oscar", &["rollback", "staging", "--to", "staging-r2"])?;
    team.sluice_exit("mallory", &status_watch(&created(&out)), 0)?;
    let (_, err) = team.sluice_exit("oscar", &["rollback", "staging", "--to", "staging-r4"], 1)?;
    assert!(
        err.contains("environment staging is already at staging-r4"),
        "{err}"
    );

    // What the cluster shows about the environment and its releases.
    let releases = team.sluice_ok("alice", &["releases", "staging"])?;
    golden("releases.txt", &normalize(&releases, &s.namespace));
    let json: serde_json::Value =
        serde_json::from_str(&team.sluice_ok("alice", &["releases", "staging", "-o", "json"])?)?;
    let ids: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["staging-r4", "staging-r3", "staging-r2", "staging-r1"]
    );
    assert_eq!(json[0]["live"], true);
    assert_eq!(json[0]["what"], "rollback to staging-r2");
    assert_eq!(json[2]["createdBy"], "mallory");
    let shown = team.sluice_ok("alice", &["get", "environment", "staging"])?;
    golden("environment_staging.txt", &normalize(&shown, &s.namespace));

    // A release's evidence: a summary for people, and the document the operator stored.
    let shown = team.sluice_ok("alice", &["evidence", "staging-r2"])?;
    assert!(
        shown.starts_with("Release staging-r2 of staging (promotion)"),
        "{shown}"
    );
    let document: serde_json::Value =
        serde_json::from_str(&team.sluice_ok("alice", &["evidence", "staging-r2", "-o", "json"])?)?;
    let stored = jsonpath(
        s,
        &format!("configmap/{v2_promotion}-evidence"),
        "{.data.evidence\\.json}",
    );
    assert_eq!(
        document,
        serde_json::from_str::<serde_json::Value>(&stored)?
    );
    assert_eq!(
        document["plan"]["id"],
        jsonpath(s, "plan/shop-v2", "{.status.planId}")
    );
    let (_, err) = team.sluice_exit("alice", &["evidence", "staging-r9"], 1)?;
    assert!(err.contains("no evidence of release staging-r9"), "{err}");

    // Lists, and the objects for machines.
    let lists = normalize(&team.sluice_ok("alice", &["get"])?, &s.namespace);
    for header in [
        "NAME RELEASE MODELS STATUS AGE",
        "NAME ENVIRONMENT STATUS CHANGES BACKFILL AGE",
        "NAME ENVIRONMENT TARGET STATUS APPROVALS AGE",
        "staging staging-r4",
        "shop-v1-staging staging plan shop-v1 ✔ Promoted 0/0",
    ] {
        assert!(lists.contains(header), "{header:?} missing from:\n{lists}");
    }
    let plan: serde_json::Value =
        serde_json::from_str(&team.sluice_ok("alice", &["get", "plan/shop-v2", "-o", "json"])?)?;
    assert_eq!(
        (plan["kind"].as_str(), plan["status"]["phase"].as_str()),
        (Some("Plan"), Some("Promoted"))
    );
    let yaml = team.sluice_ok("alice", &["get", "promotions", "-o", "yaml"])?;
    assert!(
        yaml.contains("kind: List") && yaml.contains("name: shop-v1-staging"),
        "{yaml}"
    );
    let (_, err) = team.sluice_exit("alice", &["get", "promotion", "nope"], 1)?;
    assert!(
        err.contains(&format!(
            "promotion nope not found in namespace {}",
            s.namespace
        )),
        "{err}"
    );

    // kubectl's own flags: another kubeconfig and context (mallory's token), a missing context.
    if let Some(cluster) = s.local() {
        let combined = cluster.combined_kubeconfig_path();
        let out = kubectl_sluice(
            &cluster.kubeconfig_path("admin"),
            &[
                "get",
                "environments",
                "-n",
                &s.namespace,
                "--kubeconfig",
                combined.to_str().unwrap(),
                "--context",
                "sluice-mallory",
            ],
        )
        .output()?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("staging-r4"));
        let out =
            kubectl_sluice(&combined, &["get", "environments", "--context", "nope"]).output()?;
        assert!(
            !out.status.success()
                && String::from_utf8_lossy(&out.stderr).contains("cannot use context")
        );
    }

    // Shell completion.
    let bash = team.sluice_ok("alice", &["completion", "bash"])?;
    assert!(
        bash.contains("complete -F _kubectl__sluice") && bash.contains("approve"),
        "{bash}"
    );
    let zsh = team.sluice_ok("alice", &["completion", "zsh"])?;
    assert!(zsh.starts_with("#compdef kubectl-sluice"), "{zsh}");
    Ok(())
}

#[test]
fn a_failed_plan_is_retried_and_reruns_only_the_failed_work() -> Result<()> {
    let team = Team::start()?;
    let s = &team.shop.s;
    // A model reading a table nobody created yet fails its Job.
    let project = support::copy_project(&repo().join("config/samples/shop"))?;
    std::fs::write(
        project.path().join("models/stg/vip_customers.sql"),
        "MODEL (\n  name stg.vip_customers,\n  kind FULL\n);\n\nSELECT customer_id FROM ext.vip_list\n",
    )?;
    team.render_and_apply(project.path(), "prod", "vip", None)?;
    // Just applied: still on its way (exit 4 without --watch).
    let (out, _) = team.sluice_exit("mallory", &["status", "plan/vip"], 4)?;
    assert!(out.starts_with("plan vip: "), "{out}");
    let (out, _) = team.sluice_exit("mallory", &status_watch("plan/vip"), 1)?;
    assert!(
        out.contains("plan vip: Failed - stg.vip_customers: "),
        "{out}"
    );
    team.sluice_exit("mallory", &["status", "vip"], 1)?;
    let shown = team.sluice_ok("mallory", &["get", "plan", "vip"])?;
    assert!(
        shown.contains("fix the cause, then `kubectl sluice retry vip` reruns the failed work"),
        "{shown}"
    );
    assert!(
        shown.contains("ext.vip_list"),
        "the Job's log tail names the missing table:\n{shown}"
    );

    // Nothing to approve while the plan is not Ready.
    team.sluice_ok("mallory", &["promote", "vip"])?;
    let (_, err) = team.sluice_exit("alice", &["approve", "vip-prod"], 1)?;
    assert!(
        err.contains(
            "plan vip is Failed, not Ready: an approval binds to the digest of a Ready plan"
        ),
        "{err}"
    );

    // Approvers may not delete Jobs; editors may.
    let (_, err) = team.sluice_exit("alice", &["retry", "vip"], 1)?;
    assert!(
        err.contains("forbidden (403)") && err.contains("jobs"),
        "{err}"
    );
    // Jobs by name, with their uids: a Job run again is a new object under the same name.
    let jobs = || -> Result<Vec<(String, String)>> {
        let text = s.kubectl_ok(&[
            "get",
            "jobs",
            "-l",
            "sluice.dev/plan=vip",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.metadata.uid}{\"\\n\"}{end}",
        ])?;
        Ok(text
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(name, uid)| (name.to_string(), uid.to_string()))
            .collect())
    };
    psql(
        &team.shop.url,
        "CREATE SCHEMA ext; CREATE TABLE ext.vip_list AS SELECT 1 AS customer_id",
    )?;
    // Jobs still running when the plan failed finish first; then only the failed one is rerun.
    wait_until(
        "the plan's other Jobs to finish",
        MINUTE,
        || team.shop.context(),
        || (jsonpath(s, "plan/vip", "{.status.backfill.running}") == "0").then_some(()),
    )?;
    let before = jobs()?;
    let out = team.sluice_ok("mallory", &["retry", "vip"])?;
    let deleted: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("deleted failed job "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(
        deleted.len() == 1 && out.contains("(model stg.vip_customers)"),
        "{out}"
    );
    team.sluice_exit("mallory", &status_watch("plan/vip"), 0)?;
    let after = jobs()?;
    for (name, uid) in &before {
        let now = after.iter().find(|(n, _)| n == name).map(|(_, u)| u);
        if deleted.contains(&name.as_str()) {
            assert!(now.is_some_and(|u| u != uid), "failed job {name} ran again");
        } else {
            assert_eq!(now, Some(uid), "job {name} was kept");
        }
    }
    let (_, err) = team.sluice_exit("mallory", &["retry", "vip"], 1)?;
    assert!(
        err.contains("plan vip is Ready, not Failed: there is nothing to retry"),
        "{err}"
    );
    Ok(())
}
