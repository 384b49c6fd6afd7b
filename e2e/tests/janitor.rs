//! The operator's janitor on a schedule: an expired PR environment's tables go, every table a
//! kept release needs stays, what it dropped shows as Events and in `kubectl sluice releases`,
//! and a rollback to a release it cleaned fails at once with the reason.

mod support;

use anyhow::Result;
use support::{
    MINUTE, Shop, copy_project, exists, jsonpath, psql, render, repo, wait_until, with_creator,
};

/// The physical table behind an environment's view (`schema.table`).
fn table_behind(url: &str, schema: &str, view: &str) -> Result<String> {
    let rows = psql(
        url,
        &format!(
            "SELECT table_schema || '.' || table_name FROM information_schema.view_table_usage \
             WHERE view_schema = '{schema}' AND view_name = '{view}'"
        ),
    )?;
    rows.into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no table behind {schema}.{view}"))
}

#[test]
fn the_scheduled_janitor_cleans_up_after_pr_environments_and_old_releases() -> Result<()> {
    let mut shop = Shop::without_operator(support::postgres::postgres_url())?;
    shop.start_operator(
        &[
            "--janitor-interval",
            "2s",
            "--keep-releases",
            "1",
            "--janitor-grace",
            "0",
        ],
        &[],
    )?;
    shop.environments()?;
    let s = &shop.s;
    let url = shop.url.clone();
    let project = repo().join("config/samples/shop");

    // dev-r1: the shop as it is.
    s.apply(&render(&project, "dev", "shop-dev-v1", None)?)?;
    shop.wait_for(
        "dev-r1",
        &["--for=condition=Ready", "promotion/shop-dev-v1-auto"],
        3 * MINUTE,
    )?;
    let first_orders = table_behind(&url, "stg__dev", "orders")?;

    // A PR environment living 15 seconds, with a change of its own.
    s.apply(
        "apiVersion: sluice.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: pr7\nspec:\n  \
         warehouse:\n    secretRef: {name: warehouse, key: url}\n  ttl: 15s\n  promotion:\n    \
         auto: true\n",
    )?;
    let changed = copy_project(&project)?;
    std::fs::copy(
        repo().join("config/samples/shop-changes/daily_revenue_breaking.sql"),
        changed.path().join("models/mart/daily_revenue.sql"),
    )?;
    s.apply(&render(changed.path(), "pr7", "shop-pr7", None)?)?;
    shop.wait_for(
        "the PR environment's promotion",
        &["--for=condition=Ready", "promotion/shop-pr7-auto"],
        3 * MINUTE,
    )?;
    let pr_table = table_behind(&url, "mart__pr7", "daily_revenue")?;
    assert!(exists(&url, &pr_table));

    // dev-r2: another change; with one release kept, dev-r1's own table is no longer needed.
    let changed = copy_project(&project)?;
    std::fs::copy(
        repo().join("config/samples/shop-changes/stg_orders_add_column.sql"),
        changed.path().join("models/stg/orders.sql"),
    )?;
    s.apply(&render(changed.path(), "dev", "shop-dev-v2", None)?)?;
    shop.wait_for(
        "dev-r2",
        &["--for=condition=Ready", "promotion/shop-dev-v2-auto"],
        3 * MINUTE,
    )?;
    let second_orders = table_behind(&url, "stg__dev", "orders")?;
    assert_ne!(first_orders, second_orders);

    // The PR environment expires; the janitor takes its table, and dev-r1's.
    wait_until(
        "the janitor to drop the expired PR environment's table",
        3 * MINUTE,
        || shop.context(),
        || (!exists(&url, &pr_table)).then_some(()),
    )?;
    wait_until(
        "the janitor to drop the table only dev-r1 used",
        MINUTE,
        || shop.context(),
        || (!exists(&url, &first_orders)).then_some(()),
    )?;
    // Everything the kept release reads is still there, and dev still answers.
    assert!(exists(&url, &second_orders));
    assert_eq!(
        psql(&url, "SELECT count(*) FROM mart__dev.daily_revenue")?.len(),
        1,
        "dev's views still read their tables"
    );
    let events = s.kubectl_ok(&["get", "events"])?;
    assert!(
        events.contains("JanitorDropped") && events.contains("the janitor dropped"),
        "{events}"
    );

    // The Environment says which releases can still be rolled back to.
    wait_until(
        "dev's status to show dev-r1 cleaned",
        MINUTE,
        || shop.context(),
        || {
            let shown = jsonpath(
                s,
                "environment/dev",
                "{.status.releases[?(@.id==\"dev-r1\")].restorable}",
            );
            (shown == "false").then_some(())
        },
    )?;
    assert_eq!(
        jsonpath(
            s,
            "environment/dev",
            "{.status.releases[?(@.id==\"dev-r2\")].restorable}"
        ),
        "true"
    );

    // A rollback to the cleaned release fails at once, saying why.
    s.apply(&with_creator(
        "apiVersion: sluice.dev/v1alpha1\nkind: Promotion\nmetadata:\n  name: dev-back\n  \
         annotations:\n    sluice.dev/created-by: YOU\nspec:\n  rollback:\n    environment: dev\n    \
         release: dev-r1\n",
    ))?;
    shop.wait_phase("promotion/dev-back", "Failed")?;
    let message = jsonpath(s, "promotion/dev-back", "{.status.message}");
    assert!(
        message.contains("dev-r1 can no longer be restored"),
        "{message}"
    );
    Ok(())
}
