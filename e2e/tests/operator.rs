//! The operator end to end: the real `sluice operator` process against the test control plane,
//! PostgreSQL as the warehouse, everything driven with kubectl and the sample manifests in
//! `config/samples/operator`, the warehouse observed with psql.

mod support;

use std::time::Duration;

use anyhow::Result;
use support::argocd::lua_health;
use support::{
    MINUTE, Shop, exists, jsonpath, promotion, psql, render, repo, sample_manifest, wait_until,
};

/// Whether `<schema>.orders` has the column the sample change adds.
fn is_returned_in(url: &str, schema: &str) -> Result<bool> {
    let rows = psql(
        url,
        &format!(
            "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = '{schema}' \
             AND table_name = 'orders' AND column_name = 'is_returned'"
        ),
    )?;
    Ok(rows == ["1"])
}

/// Argo CD's verdict on a live object, from `config/argocd`'s health check.
fn argocd(shop: &Shop, kind: &str, name: &str) -> (String, String) {
    let json = shop
        .s
        .kubectl_ok(&[
            "get",
            &format!("{}/{name}", kind.to_lowercase()),
            "-o",
            "json",
        ])
        .unwrap();
    lua_health(kind, &serde_json::from_str(&json).unwrap())
}

#[test]
fn plan_approve_promote_change_auto_promote_and_roll_back() -> Result<()> {
    let shop = Shop::start()?;
    let s = &shop.s;
    let url = &shop.url;
    let project = repo().join("config/samples/shop");

    // Plan the shop project into prod; its backfill runs as Jobs.
    s.apply(&render(
        &project,
        "prod",
        "shop-v1",
        Some("carol@example.com"),
    )?)?;
    shop.wait_for(
        "plan shop-v1 Ready",
        &["--for=condition=Ready", "plan/shop-v1"],
        3 * MINUTE,
    )?;
    let jobs = s.kubectl_ok(&["get", "jobs", "-l", "sluice.dev/plan=shop-v1", "-o", "name"])?;
    assert!(
        jobs.lines().count() >= 5,
        "one Job per model with work: {jobs}"
    );
    assert_eq!(
        jsonpath(s, "plan/shop-v1", "{.status.backfill.progress}"),
        format!("{0}/{0}", jobs.lines().count())
    );
    assert!(
        !exists(url, "mart.daily_revenue"),
        "nothing is promoted before a Promotion"
    );

    // Promote it: it waits for two approvals, and prod's views appear only after the second.
    s.apply(&sample_manifest("promotion-prod.yaml"))?;
    shop.wait_phase("promotion/shop-v1-prod", "AwaitingApproval")?;
    // Argo CD, reading the real statuses: the plan is Healthy, the promotion Suspended.
    assert_eq!(argocd(&shop, "Plan", "shop-v1").0, "Healthy");
    let (health, message) = argocd(&shop, "Promotion", "shop-v1-prod");
    assert_eq!(health, "Suspended", "{message}");
    assert!(
        message.contains("0/2") || message.contains("approval"),
        "{message}"
    );
    shop.approve("shop-v1-prod", "alice")?;
    wait_until(
        "alice's approval to count",
        MINUTE,
        || shop.context(),
        || {
            (jsonpath(s, "promotion/shop-v1-prod", "{.status.approvalCount}") == "1/2")
                .then_some(())
        },
    )?;
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(shop.phase("promotion/shop-v1-prod"), "AwaitingApproval");
    assert!(
        !exists(url, "mart.daily_revenue"),
        "one approval of two flips nothing"
    );
    shop.approve("shop-v1-prod", "bob")?;
    shop.wait_for(
        "promotion Ready",
        &["--for=condition=Ready", "promotion/shop-v1-prod"],
        MINUTE,
    )?;
    assert!(exists(url, "mart.daily_revenue") && exists(url, "stg.orders"));
    assert_eq!(
        jsonpath(s, "promotion/shop-v1-prod", "{.status.release.id}"),
        "prod-r1"
    );
    shop.wait_for(
        "environment prod at prod-r1",
        &[
            "--for=jsonpath={.status.release.id}=prod-r1",
            "environment/prod",
        ],
        MINUTE,
    )?;
    assert_eq!(jsonpath(s, "plan/shop-v1", "{.status.phase}"), "Promoted");
    assert_eq!(argocd(&shop, "Promotion", "shop-v1-prod").0, "Healthy");
    assert_eq!(argocd(&shop, "Plan", "shop-v1").0, "Healthy");
    assert_eq!(argocd(&shop, "Environment", "prod").0, "Healthy");
    let approved_by = jsonpath(s, "environment/prod", "{.status.release.approvedBy}");
    assert!(
        approved_by.contains("alice") && approved_by.contains("bob"),
        "{approved_by}"
    );

    // A change, planned into dev: the operator promotes it there by itself; prod is untouched.
    let changed = support::copy_project(&project)?;
    std::fs::copy(
        repo().join("config/samples/shop-changes/stg_orders_add_column.sql"),
        changed.path().join("models/stg/orders.sql"),
    )?;
    s.apply(&render(changed.path(), "dev", "shop-v2-dev", None)?)?;
    shop.wait_for(
        "auto-promotion into dev",
        &["--for=condition=Ready", "promotion/shop-v2-dev-auto"],
        3 * MINUTE,
    )?;
    assert!(is_returned_in(url, "stg__dev")?);
    assert!(!is_returned_in(url, "stg")?);

    // The same change planned into prod reuses every table dev built: no Job at all.
    s.apply(&render(
        changed.path(),
        "prod",
        "shop-v2",
        Some("carol@example.com"),
    )?)?;
    shop.wait_for(
        "plan shop-v2 Ready",
        &["--for=condition=Ready", "plan/shop-v2"],
        2 * MINUTE,
    )?;
    assert_eq!(jsonpath(s, "plan/shop-v2", "{.status.backfill.total}"), "0");
    assert_eq!(
        s.kubectl_ok(&["get", "jobs", "-l", "sluice.dev/plan=shop-v2", "-o", "name"])?,
        ""
    );
    s.apply(&promotion("shop-v2-prod", "shop-v2"))?;
    shop.wait_phase("promotion/shop-v2-prod", "AwaitingApproval")?;
    shop.approve("shop-v2-prod", "alice")?;
    shop.approve("shop-v2-prod", "bob")?;
    shop.wait_for(
        "promotion shop-v2-prod Ready",
        &["--for=condition=Ready", "promotion/shop-v2-prod"],
        MINUTE,
    )?;
    assert!(is_returned_in(url, "stg")?);

    // Roll back: prod is back on shop-v1's tables at once, no backfill, no approvals needed.
    s.apply(&sample_manifest("rollback-prod.yaml"))?;
    shop.wait_for(
        "rollback Ready",
        &["--for=condition=Ready", "promotion/prod-rollback"],
        MINUTE,
    )?;
    assert_eq!(
        jsonpath(s, "promotion/prod-rollback", "{.status.release.id}"),
        "prod-r3"
    );
    assert!(!is_returned_in(url, "stg")?);

    // What people see with kubectl.
    let table = s.kubectl_ok(&["get", "environments,plans,promotions"])?;
    for header in [
        "RELEASE",
        "READY",
        "ENVIRONMENT",
        "PHASE",
        "CHANGES",
        "BACKFILL",
        "PLAN",
        "APPROVALS",
    ] {
        assert!(table.contains(header), "{header} missing from:\n{table}");
    }
    assert!(table.contains("prod-r3"), "{table}");
    let described = s.kubectl_ok(&["describe", "promotion", "shop-v1-prod"])?;
    assert!(
        described.contains("Conditions") || described.contains("conditions"),
        "{described}"
    );
    assert!(described.contains("Promoted"), "{described}");
    let events = s.kubectl_ok(&["get", "events"])?;
    assert!(
        events.contains("Promoted") && events.contains("Backfilling"),
        "{events}"
    );
    let metrics = shop.operator().metrics();
    assert!(
        metrics.contains("sluice_flips_total 4") || metrics.contains("sluice_flips_total"),
        "{metrics}"
    );
    Ok(())
}
