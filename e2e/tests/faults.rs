//! The bad day: the operator killed at every step, a leader failing over (and a stale one
//! waking up), promotions racing for one environment, the warehouse going away, Jobs failing.
//! Each ends converged: one release per Promotion, the Environment's status equal to the
//! warehouse's truth, no duplicated Jobs, no lost approvals — and readers never see a mix.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use support::{
    MINUTE, Shop, jsonpath, promotion, psql, render, repo, sample_manifest, wait_until,
    with_creator,
};

fn shop_source() -> std::path::PathBuf {
    repo().join("config/samples/shop")
}

/// Views in prod's schemas; a reader must only ever see none or all of them.
const PROD_VIEWS: &str =
    "SELECT COUNT(*) FROM information_schema.views WHERE table_schema IN ('raw', 'stg', 'mart')";

/// Samples prod's views until stopped: returns the distinct counts seen.
fn reader(url: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut seen = std::collections::BTreeSet::new();
        while !stop.load(Ordering::Relaxed) {
            if let Ok(rows) = psql(&url, PROD_VIEWS) {
                seen.extend(rows);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        seen.into_iter().collect()
    })
}

/// Releases of prod in the warehouse.
fn prod_releases(url: &str) -> usize {
    psql(
        url,
        "SELECT COUNT(*) FROM sluice.releases WHERE environment = 'prod'",
    )
    .ok()
    .and_then(|r| r.first()?.parse().ok())
    .unwrap_or(0)
}

/// Alice's and Bob's approvals of prod's promotion: the quorum.
fn approve_both(shop: &Shop) -> Result<()> {
    shop.approve("shop-v1-prod", "alice")?;
    shop.approve("shop-v1-prod", "bob")
}

/// Applies prod's promotion, approves it, and waits until the first operator has frozen at
/// its `operator-before-flip:stop` failpoint.
fn promote_until_frozen_before_flip(shop: &Shop) -> Result<()> {
    shop.s.apply(&sample_manifest("promotion-prod.yaml"))?;
    approve_both(shop)?;
    wait_until(
        "the operator to freeze before its flip",
        2 * MINUTE,
        || shop.context(),
        || {
            shop.operators[0]
                .logs()
                .contains("failpoint operator-before-flip: stopping")
                .then_some(())
        },
    )
}

/// Runs plan → promote with two approvals, with the first operator stopping at `failpoint`;
/// then a fresh operator finishes the job.
fn killed_at(failpoint: &str) -> Result<()> {
    let mut shop = Shop::without_operator(support::postgres::postgres_url())?;
    shop.environments()?;
    shop.start_operator(&[], &[("SLUICE_FAILPOINT", failpoint)])?;
    let stop = Arc::new(AtomicBool::new(false));
    let readings = reader(shop.url.clone(), stop.clone());
    shop.s
        .apply(&render(&shop_source(), "prod", "shop-v1", None)?)?;
    shop.s.apply(&sample_manifest("promotion-prod.yaml"))?;
    // Approve as soon as the plan has a digest (a failpoint before that kills the operator
    // first; the approvals then wait for the restart).
    let approved = wait_until(
        "a digest to approve",
        3 * MINUTE,
        || shop.context(),
        || {
            let digest = jsonpath(&shop.s, "plan/shop-v1", "{.status.digest}");
            let exited = shop.operators[0].wait_exit(Duration::ZERO).is_some();
            if !digest.is_empty() {
                Some(true)
            } else if exited {
                Some(false)
            } else {
                None
            }
        },
    )?;
    if approved {
        approve_both(&shop)?;
    }
    let status = shop.operators[0].wait_exit(3 * MINUTE);
    assert!(
        status.is_some_and(|s| !s.success()),
        "the operator should have stopped at {failpoint}:\n{}",
        shop.context()
    );
    shop.start_operator(&[], &[])?;
    if !approved {
        shop.wait_for(
            "a digest",
            &["--for=jsonpath={.status.phase}=Ready", "plan/shop-v1"],
            3 * MINUTE,
        )?;
        approve_both(&shop)?;
    }
    shop.wait_for(
        "the promotion",
        &["--for=condition=Ready", "promotion/shop-v1-prod"],
        3 * MINUTE,
    )?;
    shop.wait_for(
        "prod's status",
        &[
            "--for=jsonpath={.status.release.id}=prod-r1",
            "environment/prod",
        ],
        MINUTE,
    )?;
    stop.store(true, Ordering::Relaxed);
    let seen = readings.join().unwrap();

    assert_eq!(
        prod_releases(&shop.url),
        1,
        "exactly one release ({failpoint})"
    );
    assert_eq!(
        jsonpath(&shop.s, "promotion/shop-v1-prod", "{.status.release.id}"),
        "prod-r1"
    );
    assert_eq!(
        jsonpath(&shop.s, "promotion/shop-v1-prod", "{.status.approvalCount}"),
        "2/2"
    );
    let jobs = shop.s.kubectl_ok(&[
        "get",
        "jobs",
        "-o",
        "jsonpath={.items[*].metadata.annotations.sluice\\.dev/model}",
    ])?;
    let models: Vec<&str> = jobs.split_whitespace().collect();
    let distinct: std::collections::BTreeSet<&str> = models.iter().copied().collect();
    assert_eq!(
        models.len(),
        distinct.len(),
        "no duplicated Jobs ({failpoint}): {models:?}"
    );
    let total = jsonpath(&shop.s, "plan/shop-v1", "{.status.backfill.total}");
    assert_eq!(
        models.len().to_string(),
        total,
        "one Job per unit ({failpoint})"
    );
    let all = psql(&shop.url, PROD_VIEWS)?[0].clone();
    assert!(
        seen.iter().all(|n| n == "0" || *n == all),
        "a reader saw a partly flipped prod ({failpoint}): {seen:?} of {all}"
    );
    Ok(())
}

#[test]
fn killed_after_planning_before_writing_status() -> Result<()> {
    killed_at("operator-after-plan")
}

#[test]
fn killed_after_the_last_approval_before_the_flip() -> Result<()> {
    killed_at("operator-before-flip")
}

#[test]
fn killed_inside_the_flip_transaction() -> Result<()> {
    killed_at("promote-midway")
}

#[test]
fn killed_after_the_flip_before_recording_it() -> Result<()> {
    killed_at("operator-after-flip")
}

#[test]
fn killed_while_jobs_run_and_a_standby_takes_over() -> Result<()> {
    let mut shop = Shop::without_operator(support::postgres::postgres_url())?;
    shop.environments()?;
    shop.start_operator(&["--leader-elect"], &[])?;
    wait_until(
        "a leader",
        MINUTE,
        || shop.context(),
        || shop.operators[0].logs().contains("leading").then_some(()),
    )?;
    shop.start_operator(&["--leader-elect"], &[])?;
    shop.s
        .apply(&render(&shop_source(), "prod", "shop-v1", None)?)?;
    wait_until(
        "Jobs to run",
        2 * MINUTE,
        || shop.context(),
        || {
            let running = jsonpath(&shop.s, "plan/shop-v1", "{.status.backfill.running}");
            running.parse::<u32>().is_ok_and(|n| n > 0).then_some(())
        },
    )?;
    shop.operators[0].signal("KILL");
    let killed = std::time::Instant::now();
    shop.wait_for(
        "the standby to finish the plan",
        &["--for=condition=Ready", "plan/shop-v1"],
        2 * MINUTE,
    )?;
    assert!(
        shop.operators[1].logs().contains("leading"),
        "{}",
        shop.context()
    );
    assert!(
        killed.elapsed() < Duration::from_secs(90),
        "took over in {:?}",
        killed.elapsed()
    );
    let jobs = shop.s.kubectl_ok(&["get", "jobs", "-o", "name"])?;
    let total: usize = jsonpath(&shop.s, "plan/shop-v1", "{.status.backfill.total}").parse()?;
    assert_eq!(jobs.lines().count(), total, "no duplicated Jobs: {jobs}");
    Ok(())
}

#[test]
fn a_stale_leader_that_wakes_up_cannot_flip_again() -> Result<()> {
    let mut shop = Shop::without_operator(support::postgres::postgres_url())?;
    shop.environments()?;
    // The leader freezes right before its flip (as a paused VM would) ...
    shop.start_operator(
        &["--leader-elect"],
        &[("SLUICE_FAILPOINT", "operator-before-flip:stop")],
    )?;
    wait_until(
        "a leader",
        MINUTE,
        || shop.context(),
        || shop.operators[0].logs().contains("leading").then_some(()),
    )?;
    shop.start_operator(&["--leader-elect"], &[])?;
    shop.s
        .apply(&render(&shop_source(), "prod", "shop-v1", None)?)?;
    shop.wait_for(
        "the plan",
        &["--for=condition=Ready", "plan/shop-v1"],
        3 * MINUTE,
    )?;
    promote_until_frozen_before_flip(&shop)?;
    // ... the standby takes the lease over and flips ...
    shop.wait_for(
        "the standby's flip",
        &["--for=condition=Ready", "promotion/shop-v1-prod"],
        2 * MINUTE,
    )?;
    assert_eq!(prod_releases(&shop.url), 1);
    // ... and the old leader wakes up mid-flip: the engine finds the release its Promotion
    // already made (the flip is keyed by the Promotion), and the operator stops, having lost
    // its lease.
    shop.operators[0].signal("CONT");
    let status = shop.operators[0].wait_exit(MINUTE);
    assert!(status.is_some_and(|s| !s.success()), "{}", shop.context());
    assert!(
        shop.operators[0].logs().contains("lost the leader lease"),
        "{}",
        shop.context()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(prod_releases(&shop.url), 1, "no second flip");
    assert_eq!(
        jsonpath(&shop.s, "environment/prod", "{.status.release.id}"),
        "prod-r1"
    );
    Ok(())
}

#[test]
fn two_promotions_racing_for_one_environment() -> Result<()> {
    let shop = Shop::start()?;
    let s = &shop.s;
    let changed = support::copy_project(&shop_source())?;
    std::fs::copy(
        repo().join("config/samples/shop-changes/stg_orders_add_column.sql"),
        changed.path().join("models/stg/orders.sql"),
    )?;
    s.apply(&render(&shop_source(), "prod", "one", None)?)?;
    s.apply(&render(changed.path(), "prod", "two", None)?)?;
    shop.wait_for(
        "both plans",
        &["--for=condition=Ready", "plan/one", "plan/two"],
        3 * MINUTE,
    )?;
    let old_digests = [
        jsonpath(s, "plan/one", "{.status.digest}"),
        jsonpath(s, "plan/two", "{.status.digest}"),
    ];
    for p in ["one", "two"] {
        s.apply(&promotion(p, p))?;
    }
    for p in ["one", "two"] {
        shop.wait_phase(&format!("promotion/{p}"), "AwaitingApproval")?;
    }
    // Both fully approved at once: one flips, the other finds prod moved.
    for p in ["one", "two"] {
        shop.approve(p, "alice")?;
    }
    for p in ["one", "two"] {
        shop.approve(p, "bob")?;
    }
    let winner = wait_until(
        "one promotion to win",
        2 * MINUTE,
        || shop.context(),
        || {
            ["one", "two"]
                .into_iter()
                .find(|p| shop.phase(&format!("promotion/{p}")) == "Promoted")
        },
    )?;
    let loser = if winner == "one" { "two" } else { "one" };
    std::thread::sleep(Duration::from_secs(3));
    assert_ne!(
        shop.phase(&format!("promotion/{loser}")),
        "Promoted",
        "{}",
        shop.context()
    );
    assert_eq!(prod_releases(&shop.url), 1);
    // The loser's plan is re-planned against the winner's release, which it names; its
    // approvals were for the old digest and no longer count.
    let old = &old_digests[usize::from(loser == "two")];
    let warning = wait_until(
        "the loser to be re-planned",
        2 * MINUTE,
        || shop.context(),
        || {
            let d = jsonpath(s, &format!("plan/{loser}"), "{.status.digest}");
            let warnings = jsonpath(s, &format!("plan/{loser}"), "{.status.warnings}");
            (!d.is_empty() && d != *old && warnings.contains("re-planned")).then_some(warnings)
        },
    )?;
    assert!(
        warning.contains("environment prod moved to prod-r1"),
        "the re-plan names the winner's release: {warning}"
    );
    wait_until(
        "the loser's approvals to stop counting",
        2 * MINUTE,
        || shop.context(),
        || {
            (jsonpath(s, &format!("promotion/{loser}"), "{.status.approvalCount}") == "0/2")
                .then_some(())
        },
    )?;
    let message = jsonpath(
        s,
        &format!("promotion/{loser}"),
        "{.status.approvals[0].reason}",
    );
    assert!(message.contains("re-planned"), "{message}");
    Ok(())
}

#[test]
fn the_warehouse_going_away_during_backfill_and_flip() -> Result<()> {
    let pg = support::postgres::start_dedicated();
    let mut shop = Shop::without_operator(pg.url.clone())?;
    shop.environments()?;
    shop.start_operator(&[], &[("SLUICE_FAILPOINT", "operator-before-flip:stop")])?;
    shop.s
        .apply(&render(&shop_source(), "prod", "shop-v1", None)?)?;
    // During the backfill: Jobs and reconciles cannot reach it; nothing fails for good.
    wait_until(
        "the backfill",
        2 * MINUTE,
        || shop.context(),
        || (shop.phase("plan/shop-v1") == "Backfilling").then_some(()),
    )?;
    pg.stop();
    let c = shop.wait_condition("plan/shop-v1", "Reconciling", "True/WarehouseUnavailable")?;
    assert!(c.contains("warehouse"), "{c}");
    std::thread::sleep(Duration::from_secs(5));
    assert_ne!(
        shop.phase("plan/shop-v1"),
        "Failed",
        "an outage is not the model's fault:\n{}",
        shop.context()
    );
    pg.start();
    shop.wait_for(
        "the plan after the outage",
        &["--for=condition=Ready", "plan/shop-v1"],
        3 * MINUTE,
    )?;

    // During the flip: the operator freezes right before it, the warehouse goes, it wakes up.
    promote_until_frozen_before_flip(&shop)?;
    pg.stop();
    shop.operators[0].signal("CONT");
    let c = shop.wait_condition(
        "promotion/shop-v1-prod",
        "Reconciling",
        "True/WarehouseUnavailable",
    )?;
    assert!(!c.is_empty());
    pg.start();
    assert!(
        !support::exists(&pg.url, "mart.daily_revenue"),
        "nothing half-promoted"
    );
    shop.wait_for(
        "the promotion after the outage",
        &["--for=condition=Ready", "promotion/shop-v1-prod"],
        3 * MINUTE,
    )?;
    assert_eq!(prod_releases(&pg.url), 1);
    assert!(support::exists(&pg.url, "mart.daily_revenue"));
    Ok(())
}

#[test]
fn failed_work_is_retried_and_a_retry_reruns_only_what_failed() -> Result<()> {
    let shop = Shop::start()?;
    let s = &shop.s;
    let project = support::copy_project(&shop_source())?;
    // A model that reads a table nobody created yet: its batch fails.
    std::fs::create_dir_all(project.path().join("models/ext"))?;
    std::fs::write(
        project.path().join("models/ext/late.sql"),
        "MODEL (name ext.late, kind EXTERNAL);\n",
    )?;
    std::fs::write(
        project.path().join("models/mart/late_report.sql"),
        "MODEL (name mart.late_report, kind FULL);\n\nSELECT COUNT(*) AS n FROM ext.late\n",
    )?;
    // A slow model, whose pod gets killed while it runs.
    std::fs::write(
        project.path().join("models/mart/slow.sql"),
        "MODEL (name mart.slow, kind FULL);\n\nSELECT 1 AS x FROM (SELECT pg_sleep(4)) AS s\n",
    )?;
    s.apply(&render(project.path(), "prod", "retry", None)?)?;
    let slow_pod = wait_until(
        "the slow model's pod",
        2 * MINUTE,
        || shop.context(),
        || {
            let pods = s
                .kubectl_ok(&[
                    "get",
                    "pods",
                    "-l",
                    "sluice.dev/model=mart.slow",
                    "-o",
                    "name",
                ])
                .ok()?;
            pods.lines().next().map(str::to_string)
        },
    )?;
    s.kubectl_ok(&["delete", &slow_pod, "--wait=false"])?;
    shop.wait_phase("plan/retry", "Failed")?;
    wait_until(
        "the slow model's retried Job",
        2 * MINUTE,
        || shop.context(),
        || {
            let done = jsonpath(
                s,
                "jobs",
                "{.items[?(@.metadata.annotations.sluice\\.dev/model==\"mart.slow\")].status.succeeded}",
            );
            (done == "1").then_some(())
        },
    )?;
    assert_eq!(
        jsonpath(s, "plan/retry", "{.status.failure.model}"),
        "mart.late_report"
    );
    let log = jsonpath(s, "plan/retry", "{.status.failure.logTail}");
    assert!(log.contains("late"), "{log}");
    let failures = jsonpath(
        s,
        "jobs",
        "{.items[?(@.metadata.annotations.sluice\\.dev/model==\"mart.slow\")].status.failed}",
    );
    assert_eq!(
        failures, "1",
        "the killed pod counted as a failure and was retried"
    );

    // Fix the cause and retry: only the failed unit runs again.
    psql(
        &shop.url,
        "CREATE SCHEMA ext; CREATE TABLE ext.late (id INTEGER)",
    )?;
    let uids = |s: &sluice_e2e::Scenario| {
        s.kubectl_ok(&["get", "jobs", "-o", "jsonpath={range .items[*]}{.metadata.annotations.sluice\\.dev/model}={.metadata.uid} {end}"]).unwrap_or_default()
    };
    let before = uids(s);
    let failed = jsonpath(s, "plan/retry", "{.status.failure.job}");
    s.kubectl_ok(&["delete", "job", &failed])?;
    shop.wait_for(
        "the plan after the retry",
        &["--for=condition=Ready", "plan/retry"],
        3 * MINUTE,
    )?;
    let after = uids(s);
    for pair in before
        .split_whitespace()
        .filter(|p| !p.starts_with("mart.late_report="))
    {
        assert!(after.contains(pair), "{pair} ran again: {after}");
    }
    Ok(())
}

/// Invalid manifests are refused at admission, naming the field; hostile names and values get
/// a clear condition; and afterwards an ordinary plan still goes through.
#[test]
fn bad_and_hostile_input_is_refused_or_reported_and_nothing_else_breaks() -> Result<()> {
    let shop = Shop::start()?;
    let s = &shop.s;
    let plan = |spec: &str| {
        format!(
            "apiVersion: sluice.dev/v1alpha1\nkind: Plan\nmetadata:\n  name: bad\nspec:\n{spec}"
        )
    };
    let env = |spec: &str| {
        format!(
            "apiVersion: sluice.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: bad\nspec:\n  warehouse:\n    secretRef: {{name: warehouse}}\n{spec}"
        )
    };
    let refused: Vec<(String, &str)> = vec![
        (plan("  source:\n    configMap: {name: x}\n"), "spec.environment"),
        (plan("  environment: prod\n  source:\n    configMap: {name: x}\n    git: {url: https://x, revision: main}\n"), "set exactly one of source.configMap, source.git and source.flux"),
        (plan("  environment: prod\n  source:\n    flux: {kind: HelmRepository, name: x}\n"), "spec.source.flux.kind"),
        (env("  ttl: 7 days\n"), "spec.ttl"),
        (env("  name: \"prod; DROP TABLE sluice.releases\"\n"), "spec.name"),
        (env("  promotion: {requiredApprovals: 100}\n"), "spec.promotion.requiredApprovals"),
        ("apiVersion: sluice.dev/v1alpha1\nkind: Promotion\nmetadata:\n  name: bad\nspec:\n  plan: x\n  rollback: {environment: prod}\n".to_string(), "set exactly one of spec.plan and spec.rollback"),
    ];
    for (manifest, field) in &refused {
        let out = s.kubectl_stdin(&["apply", "-f", "-"], Some(manifest))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(field),
            "expected a refusal naming {field}:\n{stderr}"
        );
    }
    // An immutable spec stays immutable.
    s.apply(&render(&shop_source(), "prod", "fine", None)?)?;
    let out = s.kubectl(&[
        "patch",
        "plan/fine",
        "--type=merge",
        "-p",
        "{\"spec\":{\"environment\":\"dev\"}}",
    ])?;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Plan.spec is immutable"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A huge annotation is refused by the API server.
    let huge = "x".repeat(300 * 1024);
    let patch = format!("{{\"metadata\":{{\"annotations\":{{\"note\":\"{huge}\"}}}}}}");
    let out = s.kubectl_stdin(
        &[
            "patch",
            "plan/fine",
            "--type=merge",
            "--patch-file=/dev/stdin",
        ],
        Some(&patch),
    )?;
    assert!(!out.status.success(), "a 300 KiB annotation was accepted");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("annotations"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Hostile content: archives that climb out or link out, not an archive at all.
    for (name, data, why) in [
        (
            "escape",
            hostile_archive("../../etc/cron.d/evil", None),
            "escapes the project directory",
        ),
        (
            "absolute",
            hostile_archive("/etc/passwd", None),
            "escapes the project directory",
        ),
        (
            "link",
            hostile_archive("models/stolen.sql", Some("/etc/passwd")),
            "only files and directories",
        ),
        ("noise", vec![b'x'; 10 * 1024 * 1024], ""),
    ] {
        let cm = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-source\nbinaryData:\n  project.tar.gz: {}\n",
            support::base64(&data)
        );
        let applied = s.kubectl_stdin(&["apply", "--server-side", "-f", "-"], Some(&cm))?;
        if !applied.status.success() {
            // The API server refuses a ConfigMap this large outright: that is a clear answer too.
            assert!(
                name == "noise",
                "{name}: {}",
                String::from_utf8_lossy(&applied.stderr)
            );
            continue;
        }
        s.apply(&with_creator(&format!("apiVersion: sluice.dev/v1alpha1\nkind: Plan\nmetadata:\n  name: {name}\nspec:\n  environment: prod\n  source:\n    configMap: {{name: {name}-source}}\n")))?;
        let c = shop.wait_condition(&format!("plan/{name}"), "Stalled", "True/InvalidSource")?;
        assert!(
            c.contains(&format!("{name}-source")) && c.contains(why),
            "{c}"
        );
    }
    // SQL metacharacters in model and column names are data, not code.
    let project = support::copy_project(&shop_source())?;
    std::fs::write(
        project.path().join("models/mart/quoted.sql"),
        "MODEL (name mart.quoted, kind FULL);\n\nSELECT 1 AS \"x'); DROP TABLE sluice.releases; --\", 'a\"b' AS \"q\"\"t\"\n",
    )?;
    s.apply(&render(project.path(), "prod", "quoted", None)?)?;
    shop.wait_for(
        "the quoted plan",
        &["--for=condition=Ready", "plan/quoted"],
        3 * MINUTE,
    )?;
    // A Secret with a malformed URL.
    s.apply("apiVersion: v1\nkind: Secret\nmetadata:\n  name: broken\nstringData:\n  url: \"mysql://root@db/x'; --\"\n")?;
    s.apply("apiVersion: sluice.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: staging\nspec:\n  warehouse:\n    secretRef: {name: broken}\n")?;
    let c = shop.wait_condition("environment/staging", "Stalled", "True/InvalidWarehouseUrl")?;
    assert!(c.contains("broken"), "{c}");

    // Through all this the operator kept going: the ordinary plan is promoted.
    shop.wait_for(
        "the fine plan",
        &["--for=condition=Ready", "plan/fine"],
        3 * MINUTE,
    )?;
    s.apply(&promotion("fine", "fine"))?;
    shop.approve("fine", "alice")?;
    shop.approve("fine", "bob")?;
    shop.wait_for(
        "the promotion",
        &["--for=condition=Ready", "promotion/fine"],
        2 * MINUTE,
    )?;
    assert_eq!(prod_releases(&shop.url), 1);
    Ok(())
}

/// A gzipped tar with one entry named `name` as written (no sanitizing): a one-byte file, or
/// with `link`, a symlink pointing there.
fn hostile_archive(name: &str, link: Option<&str>) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..108].copy_from_slice(b"0000644\0");
    let size: &[u8] = if link.is_some() {
        b"00000000000\0"
    } else {
        b"00000000001\0"
    };
    header[124..136].copy_from_slice(size);
    header[136..148].copy_from_slice(b"00000000000\0");
    header[156] = if link.is_some() { b'2' } else { b'0' };
    if let Some(target) = link {
        header[157..157 + target.len()].copy_from_slice(target.as_bytes());
    }
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut tar = header.to_vec();
    if link.is_none() {
        let mut data = [0u8; 512];
        data[0] = b'x';
        tar.extend_from_slice(&data);
    }
    tar.extend_from_slice(&[0u8; 1024]);
    let mut gz = Vec::new();
    let out = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&tar)?;
            child.wait_with_output()
        })
        .unwrap();
    gz.extend_from_slice(&out.stdout);
    gz
}
