//! A non-prod environment never changes what prod's readers see, and reused tables keep
//! working as the project changes: forward-only dev tables, restatements, schema changes,
//! views of changed parents, the janitor around views, tables of models that start later.
//! Every test runs on DuckDB and on PostgreSQL.

mod fixture;
mod support;

use fixture::{Backend, Fixture, model};
use sluice_warehouse::janitor::janitor;
use sluice_warehouse::run::run_environment;

const EVENTS: &str = "CREATE SCHEMA ext;
CREATE TABLE ext.events (id INTEGER, d DATE, v INTEGER);
INSERT INTO ext.events VALUES (1, '2024-01-01', 10), (2, '2024-01-01', 5), (1, '2024-01-02', 7),
  (3, '2024-01-03', 1), (2, '2024-01-04', 4), (1, '2024-01-05', 2), (1, '2024-01-06', 3)";

const DAILY: &str =
    "SELECT d, SUM(v) AS total FROM ext.events WHERE d BETWEEN @start_ds AND @end_ds GROUP BY d";

fn events_project(backend: Backend) -> Fixture {
    Fixture::with_external_events(
        backend,
        EVENTS,
        &[
            (
                "models/s/daily.sql",
                model(
                    "s.daily",
                    "kind INCREMENTAL_BY_TIME_RANGE (time_column d)",
                    DAILY,
                ),
            ),
            (
                "models/s/summary.sql",
                model(
                    "s.summary",
                    "kind FULL",
                    "SELECT COUNT(*) AS days, SUM(total) AS total FROM s.daily",
                ),
            ),
        ],
    )
}

/// A table of events and a view over it.
fn base_and_view(backend: Backend) -> Fixture {
    Fixture::with_external_events(
        backend,
        EVENTS,
        &[
            (
                "models/s/base.sql",
                model("s.base", "kind FULL", "SELECT id, v FROM ext.events"),
            ),
            (
                "models/s/big.sql",
                model("s.big", "kind VIEW", "SELECT * FROM s.base WHERE v > 4"),
            ),
        ],
    )
}

fn run(f: &Fixture, env: &str, now: &str) {
    let mut wh = f.warehouse();
    let report = run_environment(wh.as_mut(), env, fixture::t(now), &mut |_, _| {}).unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
}

/// Every row of prod's daily model and of the physical table behind it.
fn prod_daily(f: &Fixture) -> Vec<String> {
    f.rows("SELECT CAST(d AS VARCHAR), total FROM s.daily ORDER BY d")
}

fn forward_only_changes_preview_in_dev_and_never_touch_prod(backend: Backend) {
    let f = events_project(backend);
    f.apply("prod", "2024-01-04");
    let before = prod_daily(&f);
    assert_eq!(before, ["2024-01-01|15", "2024-01-02|7", "2024-01-03|1"]);

    let changed = DAILY.replace("SUM(v) AS total", "SUM(v) * 100 AS total");
    f.write(
        "models/s/daily.sql",
        &model(
            "s.daily",
            "kind INCREMENTAL_BY_TIME_RANGE (time_column d)",
            &changed,
        ),
    );
    let dev = f.plan_with("dev", "2024-01-05", |o| o.forward_only = true);
    let dev_backfill: Vec<_> = dev.backfill.iter().map(|b| b.version.clone()).collect();
    assert!(
        dev_backfill.iter().all(|v| v.ends_with("__dev")),
        "dev writes to dev tables only: {dev_backfill:?}"
    );
    f.try_apply_plan(&dev).unwrap();
    // The dev table previews yesterday with the new query ...
    assert_eq!(
        f.rows("SELECT CAST(d AS VARCHAR), total FROM s__dev.daily ORDER BY d"),
        ["2024-01-04|400"]
    );
    // ... and prod, views and tables, is exactly as it was.
    assert_eq!(prod_daily(&f), before);

    // A new day: prod's run uses prod's query, dev's run its own table.
    run(&f, "prod", "2024-01-06");
    run(&f, "dev", "2024-01-06");
    assert_eq!(
        prod_daily(&f),
        [
            "2024-01-01|15",
            "2024-01-02|7",
            "2024-01-03|1",
            "2024-01-04|4",
            "2024-01-05|2"
        ]
    );
    assert_eq!(
        f.rows("SELECT CAST(d AS VARCHAR), total FROM s__dev.daily ORDER BY d"),
        ["2024-01-04|400", "2024-01-05|200"]
    );

    // Promoted to prod, the change keeps history and writes new intervals with the new query.
    let promote = f.plan_with("prod", "2024-01-06", |o| o.forward_only = true);
    assert!(!promote.has_work(), "{:?}", promote.backfill);
    f.try_apply_plan(&promote).unwrap();
    run(&f, "prod", "2024-01-07");
    assert_eq!(
        prod_daily(&f),
        [
            "2024-01-01|15",
            "2024-01-02|7",
            "2024-01-03|1",
            "2024-01-04|4",
            "2024-01-05|2",
            "2024-01-06|300"
        ]
    );
}

fn restating_in_dev_leaves_prod_tables_alone(backend: Backend) {
    let f = events_project(backend);
    f.apply("prod", "2024-01-04");
    let before = prod_daily(&f);
    // Late data arrives; a dev restatement must not rewrite the table prod serves.
    f.warehouse()
        .execute("UPDATE ext.events SET v = 1000 WHERE d = '2024-01-01'")
        .unwrap();
    let dev = f.plan_with("dev", "2024-01-04", |o| {
        o.restate = vec!["s.daily".into()];
        o.start = Some(fixture::t("2024-01-01"));
    });
    assert!(dev.restatements.is_empty(), "{:?}", dev.restatements);
    assert!(
        dev.warnings
            .iter()
            .any(|w| w.contains("s.daily") && w.contains("prod")),
        "{:?}",
        dev.warnings
    );
    f.try_apply_plan(&dev).unwrap();
    assert_eq!(prod_daily(&f), before);

    // Restating prod itself is how late data gets in.
    let prod = f.plan_with("prod", "2024-01-04", |o| o.restate = vec!["s.daily".into()]);
    f.try_apply_plan(&prod).unwrap();
    assert_eq!(prod_daily(&f)[0], "2024-01-01|2000");
}

fn a_reused_child_survives_a_column_added_upstream(backend: Backend) {
    let f = Fixture::with_external_events(
        backend,
        EVENTS,
        &[
            (
                "models/s/base.sql",
                model("s.base", "kind FULL", "SELECT id, v FROM ext.events"),
            ),
            (
                "models/s/copy.sql",
                model("s.copy", "kind FULL", "SELECT * FROM s.base"),
            ),
        ],
    );
    f.apply("prod", "2024-01-02");
    f.write(
        "models/s/base.sql",
        &model("s.base", "kind FULL", "SELECT id, d, v FROM ext.events"),
    );
    let plan = f.plan("prod", "2024-01-02");
    assert!(
        !plan.backfill.iter().any(|b| b.model == "s.copy"),
        "the child keeps its table: {:?}",
        plan.backfill
    );
    f.try_apply_plan(&plan).unwrap();
    // The next day's run rebuilds the child from a parent with one more column.
    run(&f, "prod", "2024-01-03");
    assert_eq!(f.columns("s", "copy"), ["id", "v"]);
    assert_eq!(f.rows("SELECT COUNT(*) FROM s.copy"), ["7"]);
}

fn forward_only_tables_gain_columns_and_refuse_to_lose_them(backend: Backend) {
    let f = events_project(backend);
    f.apply("prod", "2024-01-04");
    let wider = DAILY.replace("SUM(v) AS total", "SUM(v) AS total, COUNT(*) AS n");
    let header = "kind INCREMENTAL_BY_TIME_RANGE (time_column d, forward_only true)";
    f.write("models/s/daily.sql", &model("s.daily", header, &wider));
    f.apply("prod", "2024-01-05");
    assert_eq!(f.columns("s", "daily"), ["d", "total", "n"]);
    assert_eq!(
        f.rows("SELECT CAST(d AS VARCHAR), total, n FROM s.daily ORDER BY d"),
        [
            "2024-01-01|15|NULL",
            "2024-01-02|7|NULL",
            "2024-01-03|1|NULL",
            "2024-01-04|4|1"
        ]
    );

    let narrower = DAILY.replace("SUM(v) AS total", "COUNT(*) AS n");
    f.write("models/s/daily.sql", &model("s.daily", header, &narrower));
    let error = f
        .try_apply_plan(&f.plan("prod", "2024-01-05"))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("drops column(s) total") && error.contains("s.daily"),
        "{error}"
    );
    assert_eq!(
        f.columns("s", "daily"),
        ["d", "total", "n"],
        "prod untouched"
    );
}

fn a_view_of_a_changed_parent_reads_the_new_table(backend: Backend) {
    let f = base_and_view(backend);
    f.apply("prod", "2024-01-02");
    f.write(
        "models/s/base.sql",
        &model(
            "s.base",
            "kind FULL",
            "SELECT id, v, v * 10 AS v10 FROM ext.events",
        ),
    );
    f.apply("dev", "2024-01-02");
    assert_eq!(f.columns("s__dev", "big"), ["id", "v", "v10"]);
    assert_eq!(
        f.rows("SELECT id, v10 FROM s__dev.big ORDER BY v10"),
        ["2|50", "1|70", "1|100"]
    );
    assert_eq!(
        f.columns("s", "big"),
        ["id", "v"],
        "prod's view is unchanged"
    );
}

fn the_janitor_leaves_no_broken_view_and_skips_what_it_cannot_drop(backend: Backend) {
    let f = base_and_view(backend);
    f.apply("prod", "2024-01-02");
    let first_base = f.rows(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sluice__s' \
         AND table_name LIKE 's__base__%'",
    );
    // Someone outside Sluice builds a view on the first physical table.
    f.warehouse()
        .execute(&format!(
            "CREATE SCHEMA reports; CREATE VIEW reports.mine AS SELECT * FROM sluice__s.\"{}\"",
            first_base[0]
        ))
        .unwrap();
    for (i, extra) in ["v + 1", "v + 2"].iter().enumerate() {
        let query = format!("SELECT id, {extra} AS v FROM ext.events");
        f.write("models/s/base.sql", &model("s.base", "kind FULL", &query));
        f.apply("prod", &format!("2024-01-0{}", 3 + i));
    }
    let mut wh = f.warehouse();
    let report = janitor(wh.as_mut(), i64::MAX / 2, 0, 0).unwrap();
    assert!(!report.dropped_tables.is_empty(), "{report:?}");
    // Every view Sluice kept still answers.
    for view in f.rows(
        "SELECT table_schema || '.' || table_name FROM information_schema.views \
         WHERE table_schema LIKE 'sluice__%' OR table_schema = 's'",
    ) {
        f.rows(&format!("SELECT COUNT(*) FROM {view}"));
    }
    match backend {
        // PostgreSQL refuses to drop a table a view depends on: reported, not fatal.
        Backend::Postgres => {
            assert_eq!(report.skipped_tables.len(), 1, "{report:?}");
            assert_eq!(report.skipped_tables[0].0.table, first_base[0]);
            assert_eq!(f.rows("SELECT COUNT(*) FROM reports.mine"), ["7"]);
        }
        // DuckDB does not track view dependencies: the table goes.
        Backend::Duckdb | Backend::DuckdbStateApart => {
            assert!(report.skipped_tables.is_empty(), "{report:?}")
        }
    }
}

fn a_model_that_starts_later_still_gets_its_table(backend: Backend) {
    let f = events_project(backend);
    f.write(
        "models/s/later.sql",
        &model(
            "s.later",
            "kind INCREMENTAL_BY_TIME_RANGE (time_column d), start '2030-01-01'",
            DAILY,
        ),
    );
    let plan = f.plan("prod", "2024-01-04");
    let later = plan.backfill.iter().find(|b| b.model == "s.later").unwrap();
    assert!(later.batches.is_empty(), "nothing to compute before 2030");
    f.try_apply_plan(&plan).unwrap();
    assert_eq!(f.rows("SELECT COUNT(*) FROM s.later"), ["0"]);
    assert_eq!(f.columns("s", "later"), ["d", "total"]);
}

on_both_warehouses!(
    forward_only_changes_preview_in_dev_and_never_touch_prod,
    restating_in_dev_leaves_prod_tables_alone,
    a_reused_child_survives_a_column_added_upstream,
    forward_only_tables_gain_columns_and_refuse_to_lose_them,
    a_view_of_a_changed_parent_reads_the_new_table,
    the_janitor_leaves_no_broken_view_and_skips_what_it_cannot_drop,
    a_model_that_starts_later_still_gets_its_table,
);
