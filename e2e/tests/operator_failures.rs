//! Bad input and missing pieces: each gets a condition naming the culprit, the operator keeps
//! running, and the object recovers once the problem is fixed.

mod support;

use std::process::Command;

use anyhow::Result;
use support::{MINUTE, Shop, jsonpath, render, repo, sample, warehouse_secret};

fn shop_source() -> std::path::PathBuf {
    repo().join("config/samples/shop")
}

#[test]
fn a_missing_environment_secret_or_source_stalls_and_recovers() -> Result<()> {
    let shop = Shop::bare()?;
    let s = &shop.s;
    // A Plan before its Environment exists.
    s.apply(&render(&shop_source(), "prod", "shop-v1", None)?)?;
    let c = shop.wait_condition("plan/shop-v1", "Stalled", "True/EnvironmentNotFound")?;
    assert!(c.contains("Environment") && c.contains("prod"), "{c}");
    // The Environment, without its Secret.
    s.kubectl_ok(&["apply", "-f", sample("environment-prod.yaml").as_str()])?;
    let c = shop.wait_condition("environment/prod", "Stalled", "True/SecretNotFound")?;
    assert!(c.contains("warehouse"), "{c}");
    assert_eq!(
        shop.condition("environment/prod", "Ready")
            .split('/')
            .next(),
        Some("False")
    );
    s.apply(&warehouse_secret(&shop.url))?;
    shop.wait_for(
        "environment Ready",
        &["--for=condition=Ready", "environment/prod"],
        MINUTE,
    )?;
    shop.wait_for(
        "plan Ready",
        &["--for=condition=Ready", "plan/shop-v1"],
        2 * MINUTE,
    )?;

    // A Plan whose ConfigMap is missing, then appears.
    let manifests = render(&shop_source(), "prod", "shop-v2", None)?;
    let (config_map, plan) = manifests.split_once("---\n").unwrap();
    s.apply(plan)?;
    let c = shop.wait_condition("plan/shop-v2", "Stalled", "True/SourceNotFound")?;
    assert!(c.contains("shop-v2-source"), "{c}");
    s.apply(config_map)?;
    shop.wait_for(
        "plan shop-v2 Ready",
        &["--for=condition=Ready", "plan/shop-v2"],
        2 * MINUTE,
    )?;
    Ok(())
}

#[test]
fn bad_sql_and_cycles_name_the_file_and_the_models() -> Result<()> {
    let shop = Shop::start()?;
    let project = support::copy_project(&shop_source())?;
    std::fs::write(
        project.path().join("models/stg/broken.sql"),
        "MODEL (\n  name stg.broken,\n  kind FULL\n);\n\nSELECT id FROM FROM raw.orders\n",
    )?;
    shop.s
        .apply(&render_unchecked(project.path(), "prod", "broken")?)?;
    let c = shop.wait_condition("plan/broken", "Stalled", "True/InvalidProject")?;
    assert!(c.contains("models/stg/broken.sql:6"), "{c}");

    std::fs::write(
        project.path().join("models/stg/broken.sql"),
        "MODEL (name stg.a, kind FULL);\nSELECT * FROM stg.b\n",
    )?;
    std::fs::write(
        project.path().join("models/stg/b.sql"),
        "MODEL (name stg.b, kind FULL);\nSELECT * FROM stg.a\n",
    )?;
    shop.s
        .apply(&render_unchecked(project.path(), "prod", "cycle")?)?;
    let c = shop.wait_condition("plan/cycle", "Stalled", "True/InvalidProject")?;
    assert!(
        c.contains("cycle") && c.contains("stg.a") && c.contains("stg.b"),
        "{c}"
    );
    Ok(())
}

/// `render` refuses a project that does not load, so broken ones are archived by hand.
fn render_unchecked(project: &std::path::Path, env: &str, name: &str) -> Result<String> {
    let archive = sluice::controller::source::archive_project(project)?;
    let data = base64(&archive);
    Ok(format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-source\nbinaryData:\n  project.tar.gz: {data}\n---\n\
         apiVersion: sluice.dev/v1alpha1\nkind: Plan\nmetadata:\n  name: {name}\nspec:\n  environment: {env}\n  source:\n    configMap: {{name: {name}-source}}\n"
    ))
}

fn base64(bytes: &[u8]) -> String {
    let out = Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let mut child = out.expect("base64");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
}

#[test]
fn a_git_revision_that_does_not_exist_yet_stalls_until_it_is_pushed() -> Result<()> {
    let shop = Shop::start()?;
    let repo_dir = tempfile::tempdir()?;
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(repo_dir.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"]);
    let project = repo_dir.path().join("analytics");
    std::fs::create_dir_all(&project)?;
    support::copy_project(&shop_source())?;
    copy(&shop_source(), &project)?;
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "shop"]);
    let url = format!("file://{}", repo_dir.path().display());
    shop.s.apply(&format!(
        "apiVersion: sluice.dev/v1alpha1\nkind: Plan\nmetadata:\n  name: from-git\nspec:\n  environment: prod\n  source:\n    git: {{url: \"{url}\", revision: release-1, path: analytics}}\n"
    ))?;
    let c = shop.wait_condition("plan/from-git", "Stalled", "True/GitRevisionNotFound")?;
    assert!(c.contains("release-1"), "{c}");
    git(&["tag", "release-1"]);
    shop.wait_for(
        "plan from git Ready",
        &["--for=condition=Ready", "plan/from-git"],
        2 * MINUTE,
    )?;
    let commit = jsonpath(&shop.s, "plan/from-git", "{.status.source.revision}");
    assert_eq!(commit.len(), 40, "the commit planned is recorded: {commit}");
    Ok(())
}

fn copy(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    let out = Command::new("cp")
        .arg("-r")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .output()?;
    assert!(out.status.success());
    Ok(())
}

#[test]
fn an_unreachable_warehouse_is_retried_with_backoff_and_recovers() -> Result<()> {
    let shop = Shop::bare()?;
    let s = &shop.s;
    s.apply(&warehouse_secret(
        "postgres://nobody@127.0.0.1:1/nothing?connect_timeout=2",
    ))?;
    s.kubectl_ok(&["apply", "-f", sample("environment-prod.yaml").as_str()])?;
    let c = shop.wait_condition(
        "environment/prod",
        "Reconciling",
        "True/WarehouseUnavailable",
    )?;
    assert!(c.contains("127.0.0.1:1"), "{c}");
    s.apply(&warehouse_secret(&shop.url))?;
    shop.wait_for(
        "environment Ready",
        &["--for=condition=Ready", "environment/prod"],
        2 * MINUTE,
    )?;
    Ok(())
}

#[test]
fn a_plan_computed_before_another_promotion_is_re_planned_and_old_approvals_stop_counting()
-> Result<()> {
    let shop = Shop::start()?;
    let s = &shop.s;
    let v1 = shop_source();
    s.apply(&render(&v1, "prod", "first", None)?)?;
    let changed = support::copy_project(&v1)?;
    std::fs::copy(
        repo().join("config/samples/shop-changes/stg_orders_add_column.sql"),
        changed.path().join("models/stg/orders.sql"),
    )?;
    s.apply(&render(changed.path(), "prod", "second", None)?)?;
    shop.wait_for(
        "both plans Ready",
        &["--for=condition=Ready", "plan/first", "plan/second"],
        3 * MINUTE,
    )?;
    let old_digest = jsonpath(s, "plan/second", "{.status.digest}");
    s.apply("apiVersion: sluice.dev/v1alpha1\nkind: Promotion\nmetadata:\n  name: second\nspec:\n  plan: second\n")?;
    shop.wait_phase("promotion/second", "AwaitingApproval")?;
    shop.approve("second", "alice")?;

    // The first plan is promoted: the second was computed against an older prod.
    s.apply("apiVersion: sluice.dev/v1alpha1\nkind: Promotion\nmetadata:\n  name: first\nspec:\n  plan: first\n")?;
    shop.approve("first", "alice")?;
    shop.approve("first", "bob")?;
    shop.wait_for(
        "first promoted",
        &["--for=condition=Ready", "promotion/first"],
        MINUTE,
    )?;
    let new_digest = support::wait_until(
        "the second plan to be re-planned",
        2 * MINUTE,
        || shop.context(),
        || {
            let d = jsonpath(s, "plan/second", "{.status.digest}");
            (!d.is_empty() && d != old_digest).then_some(d)
        },
    )?;
    assert_ne!(new_digest, old_digest);
    let warnings = jsonpath(s, "plan/second", "{.status.warnings}");
    assert!(warnings.contains("re-planned"), "{warnings}");
    shop.wait_for(
        "second plan Ready again",
        &["--for=condition=Ready", "plan/second"],
        2 * MINUTE,
    )?;
    let reason = support::wait_until(
        "alice's old approval to stop counting",
        MINUTE,
        || shop.context(),
        || {
            let r = jsonpath(s, "promotion/second", "{.status.approvals[0].reason}");
            r.contains("re-planned").then_some(r)
        },
    )?;
    assert!(reason.contains("re-planned"), "{reason}");
    assert_eq!(
        jsonpath(s, "promotion/second", "{.status.approvalCount}"),
        "0/2"
    );
    Ok(())
}
