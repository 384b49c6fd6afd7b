//! Bad input and missing pieces: each gets a condition naming the culprit, the operator keeps
//! running, and the object recovers once the problem is fixed.

mod support;

use std::process::Command;

use anyhow::Result;
use support::{
    FLUX_GITREPOSITORY_CRD, MINUTE, Shop, jsonpath, promotion, render, repo, sample,
    warehouse_secret, with_creator,
};

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
    let archive = sluice_api::archive::archive_project(project)?;
    let data = support::base64(&archive);
    Ok(support::with_creator(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-source\nbinaryData:\n  project.tar.gz: {data}\n---\n\
         apiVersion: sluice.dev/v1alpha1\nkind: Plan\nmetadata:\n  name: {name}\nspec:\n  environment: {env}\n  source:\n    configMap: {{name: {name}-source}}\n"
    )))
}

#[test]
fn a_git_revision_that_does_not_exist_yet_stalls_until_it_is_pushed() -> Result<()> {
    // A local repository: file:// is allowed only when the operator says so.
    let mut shop = Shop::without_operator(support::postgres::postgres_url())?;
    shop.start_operator(&["--git-allow-protocol", "file"], &[])?;
    shop.environments()?;
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
    shop.s.apply(&support::with_creator(&format!(
        "apiVersion: sluice.dev/v1alpha1\nkind: Plan\nmetadata:\n  name: from-git\nspec:\n  environment: prod\n  source:\n    git: {{url: \"{url}\", revision: release-1, path: analytics}}\n"
    )))?;
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
    s.apply(&promotion("second", "second"))?;
    shop.wait_phase("promotion/second", "AwaitingApproval")?;
    shop.approve("second", "alice")?;

    // The first plan is promoted: the second was computed against an older prod.
    s.apply(&promotion("first", "first"))?;
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

#[test]
fn a_failing_audit_fails_the_plan_with_its_log_and_a_rejection_stops_the_promotion() -> Result<()> {
    let shop = Shop::start()?;
    let s = &shop.s;
    let project = support::copy_project(&shop_source())?;
    std::fs::write(
        project.path().join("models/mart/bad.sql"),
        "MODEL (\n  name mart.bad,\n  kind FULL,\n  audits (not_null(columns := [x]))\n);\n\nSELECT CAST(NULL AS INTEGER) AS x\n",
    )?;
    s.apply(&render(project.path(), "prod", "bad", None)?)?;
    shop.wait_phase("plan/bad", "Failed")?;
    let c = shop.condition("plan/bad", "Stalled");
    assert!(c.starts_with("True/AuditFailed"), "{c}");
    assert_eq!(
        jsonpath(s, "plan/bad", "{.status.failure.model}"),
        "mart.bad"
    );
    let reason = jsonpath(s, "plan/bad", "{.status.failure.reason}");
    assert!(
        reason.contains("blocking audit failed on mart.bad") && reason.contains("not_null"),
        "{reason}"
    );
    let log = jsonpath(s, "plan/bad", "{.status.failure.logTail}");
    assert!(log.contains("violating"), "{log}");
    let json = s.kubectl_ok(&["get", "plan/bad", "-o", "json"])?;
    let (health, message) = support::argocd::lua_health("Plan", &serde_json::from_str(&json)?);
    assert_eq!(health, "Degraded", "{message}");

    // A plan that is fine, rejected by an approver: the promotion stops for good.
    s.apply(&render(&shop_source(), "prod", "good", None)?)?;
    s.apply(&promotion("good", "good"))?;
    shop.wait_phase("promotion/good", "AwaitingApproval")?;
    let rejected = s.kubectl_as(
        "bob",
        &[],
        &[
            "annotate",
            "promotion/good",
            "reject.sluice.dev/bob=bob: the seed looks wrong",
        ],
    )?;
    assert!(rejected.status.success(), "{rejected:?}");
    shop.wait_phase("promotion/good", "Rejected")?;
    assert_eq!(jsonpath(s, "promotion/good", "{.status.rejectedBy}"), "bob");
    assert!(
        shop.condition("promotion/good", "Stalled")
            .starts_with("True/Rejected")
    );
    shop.approve("good", "alice")?;
    shop.approve("good", "bob")?;
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(
        shop.phase("promotion/good"),
        "Rejected",
        "approvals after a rejection change nothing"
    );
    assert!(!support::exists(&shop.url, "mart.daily_revenue"));
    let json = s.kubectl_ok(&["get", "promotion/good", "-o", "json"])?;
    assert_eq!(
        support::argocd::lua_health("Promotion", &serde_json::from_str(&json)?).0,
        "Degraded"
    );
    Ok(())
}

/// Serves `body` over plain HTTP on a free localhost port (as Flux's source-controller
/// serves artifacts in the cluster); returns the URL.
fn serve(body: Vec<u8>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/gitrepository/shop/latest.tar.gz",
        listener.local_addr().unwrap()
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/gzip\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    url
}

#[test]
fn a_flux_artifact_is_planned_and_a_wrong_digest_refused() -> Result<()> {
    let shop = Shop::start()?;
    let s = &shop.s;
    s.apply(FLUX_GITREPOSITORY_CRD)?;
    let archive = sluice_api::archive::archive_project(&shop_source())?;
    let digest = format!("sha256:{}", sha256_hex(&archive));
    let url = serve(archive);
    let repository = |name: &str, digest: &str| {
        format!(
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: {name}\nspec:\n  url: https://example.com/shop.git\nstatus:\n  artifact:\n    url: {url}\n    digest: \"{digest}\"\n    revision: main@sha1:0123456789abcdef0123456789abcdef01234567\n"
        )
    };
    s.apply(&repository("shop", &digest))?;
    s.apply(&with_creator("apiVersion: sluice.dev/v1alpha1\nkind: Plan\nmetadata:\n  name: from-flux\nspec:\n  environment: prod\n  source:\n    flux: {kind: GitRepository, name: shop}\n"))?;
    shop.wait_for(
        "the Flux plan Ready",
        &["--for=condition=Ready", "plan/from-flux"],
        2 * MINUTE,
    )?;
    assert_eq!(
        jsonpath(s, "plan/from-flux", "{.status.source.revision}"),
        "main@sha1:0123456789abcdef0123456789abcdef01234567"
    );

    let wrong = format!("sha256:{}", "0".repeat(64));
    s.apply(&repository("tampered", &wrong))?;
    s.apply(&with_creator("apiVersion: sluice.dev/v1alpha1\nkind: Plan\nmetadata:\n  name: tampered\nspec:\n  environment: prod\n  source:\n    flux: {kind: GitRepository, name: tampered}\n"))?;
    let c = shop.wait_condition("plan/tampered", "Stalled", "True/ArtifactDigestMismatch")?;
    assert!(c.contains(&wrong) && c.contains(&digest), "{c}");
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}
