//! The engine end to end on a real warehouse: every kind's backfill, audits, apply, promote,
//! rollback, janitor and concurrent applies. Every test runs on DuckDB and on PostgreSQL.

mod fixture;
mod support;

use fixture::{Backend, DAY, Fixture, model};
use sluice_warehouse::apply::ApplyError;
use sluice_warehouse::janitor::janitor;
use sluice_warehouse::promote::{PromoteError, rollback};
use sluice_warehouse::state::{StateError, StateStore};

const EVENTS: &str = "CREATE SCHEMA ext;
CREATE TABLE ext.events (id INTEGER, d DATE, v INTEGER);
INSERT INTO ext.events VALUES (1, '2024-01-01', 10), (2, '2024-01-01', 5), (1, '2024-01-02', 7),
  (3, '2024-01-03', 1), (2, '2024-01-05', 4)";

fn kinds_project(backend: Backend) -> Fixture {
    let f = Fixture::new(
        backend,
        &[
            (
                "seeds/items.csv",
                "id,name,price\n1,apple,150\n2,pear,200\n",
            ),
            (
                "models/raw/items.sql",
                &model("raw.items", "kind SEED (path '../../seeds/items.csv')", ""),
            ),
            (
                "models/ext/events.sql",
                &model("ext.events", "kind EXTERNAL", ""),
            ),
            (
                "models/s/full.sql",
                &model(
                    "s.full",
                    "kind FULL",
                    "SELECT id, name, price * 2 AS double_price FROM raw.items",
                ),
            ),
            (
                "models/s/view.sql",
                &model(
                    "s.view",
                    "kind VIEW",
                    "SELECT name FROM s.full WHERE double_price > 350",
                ),
            ),
            (
                "models/s/daily.sql",
                &model(
                    "s.daily",
                    "kind INCREMENTAL_BY_TIME_RANGE (time_column d, batch_size 1),\n  audits (forall(criteria := (d BETWEEN @start_ds AND @end_ds, n > 0)))",
                    "SELECT d, SUM(v) AS total, COUNT(*) AS n FROM ext.events WHERE d BETWEEN @start_ds AND @end_ds GROUP BY d",
                ),
            ),
            (
                "models/s/emb.sql",
                &model(
                    "s.emb",
                    "kind EMBEDDED",
                    "SELECT id, v FROM ext.events WHERE v > 0",
                ),
            ),
            (
                "models/s/latest.sql",
                &model(
                    "s.latest",
                    "kind INCREMENTAL_BY_UNIQUE_KEY (unique_key id)",
                    "SELECT id, MAX(v) AS v FROM s.emb GROUP BY id",
                ),
            ),
        ],
    );
    f.warehouse().execute(EVENTS).unwrap();
    f
}

fn every_kind_backfills(backend: Backend) {
    let f = kinds_project(backend);
    let plan = f.plan("prod", "2024-01-04");
    let work = Fixture::backfilled(&plan);
    assert_eq!(work.get("s.daily"), Some(&3), "one batch per day: {work:?}");
    assert!(
        !work.contains_key("s.emb") && !work.contains_key("ext.events"),
        "symbolic kinds build nothing"
    );
    f.try_apply_plan(&plan).unwrap();

    assert_eq!(
        f.rows("SELECT id, name, price FROM raw.items ORDER BY id"),
        ["1|apple|150", "2|pear|200"]
    );
    assert_eq!(
        f.rows("SELECT id, double_price FROM s.full ORDER BY id"),
        ["1|300", "2|400"]
    );
    assert_eq!(f.rows("SELECT name FROM s.view"), ["pear"]);
    assert_eq!(
        f.rows("SELECT CAST(d AS VARCHAR), total, n FROM s.daily ORDER BY d"),
        ["2024-01-01|15|2", "2024-01-02|7|1", "2024-01-03|1|1"]
    );
    assert_eq!(
        f.rows("SELECT id, v FROM s.latest ORDER BY id"),
        ["1|10", "2|5", "3|1"]
    );

    // Two days later with new data: only new days are computed, keys are merged.
    f.warehouse()
        .execute("INSERT INTO ext.events VALUES (1, '2024-01-04', 50)")
        .unwrap();
    let later = f.plan("prod", "2024-01-06");
    let work = Fixture::backfilled(&later);
    assert_eq!(work.get("s.daily"), Some(&2));
    assert!(
        !work.contains_key("raw.items"),
        "an unchanged seed is not reloaded"
    );
    f.try_apply_plan(&later).unwrap();
    assert_eq!(
        f.rows("SELECT CAST(d AS VARCHAR), total FROM s.daily ORDER BY d"),
        [
            "2024-01-01|15",
            "2024-01-02|7",
            "2024-01-03|1",
            "2024-01-04|50",
            "2024-01-05|4"
        ]
    );
    assert_eq!(
        f.rows("SELECT id, v FROM s.latest ORDER BY id"),
        ["1|50", "2|5", "3|1"]
    );
}

/// Replaces s.base with a one-row table whose name is `name` (a breaking change).
fn rename_base(f: &Fixture, name: &str) {
    f.write(
        "models/s/base.sql",
        &model(
            "s.base",
            "kind FULL",
            &format!("SELECT 1 AS id, '{name}' AS name"),
        ),
    );
}

const BASE_QUERY: &str = "SELECT id, name FROM (VALUES (1, 'a'), (2, 'b')) AS t(id, name)";

fn simple_project(backend: Backend) -> Fixture {
    Fixture::new(
        backend,
        &[
            (
                "models/s/base.sql",
                &model("s.base", "kind FULL, grain id", BASE_QUERY),
            ),
            (
                "models/s/child.sql",
                &model("s.child", "kind FULL", "SELECT id, name FROM s.base"),
            ),
        ],
    )
}

fn apply_promote_and_roll_back(backend: Backend) {
    let f = simple_project(backend);
    let first = f.apply("prod", "2024-01-02");
    assert_eq!(first.id, "prod-r1");

    // A non-breaking change, built in dev.
    let with_score = BASE_QUERY.replacen("id, name", "id, id * 10 AS score, name", 1);
    f.write(
        "models/s/base.sql",
        &model("s.base", "kind FULL, grain id", &with_score),
    );
    let dev = f.plan("dev", "2024-01-02");
    assert_eq!(
        Fixture::backfilled(&dev).keys().collect::<Vec<_>>(),
        ["s.base"]
    );
    f.try_apply_plan(&dev).unwrap();
    assert_eq!(f.columns("s__dev", "base"), ["id", "score", "name"]);
    assert_eq!(
        f.columns("s", "base"),
        ["id", "name"],
        "prod is untouched by a dev apply"
    );
    assert_eq!(
        f.rows("SELECT id, name FROM s__dev.child ORDER BY id"),
        ["1|a", "2|b"]
    );

    // Promoting what dev built needs no backfill.
    let promote = f.plan("prod", "2024-01-02");
    assert!(!promote.has_work(), "{:?}", promote.backfill);
    let second = f.try_apply_plan(&promote).unwrap();
    assert_eq!(second.id, "prod-r2");
    assert_eq!(f.columns("s", "base"), ["id", "score", "name"]);

    // Roll back: the old tables, instantly.
    let mut wh = f.warehouse();
    let back = rollback(wh.as_mut(), "prod", None, fixture::tester(0)).unwrap();
    assert_eq!(back.restored_release.as_deref(), Some("prod-r1"));
    assert_eq!(f.columns("s", "base"), ["id", "name"]);
    let releases = StateStore::new(wh.as_mut()).releases("prod").unwrap();
    let ids: Vec<&str> = releases.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["prod-r3", "prod-r2", "prod-r1"]);

    // And forward again, to an explicit release.
    rollback(wh.as_mut(), "prod", Some("prod-r2"), fixture::tester(0)).unwrap();
    assert_eq!(f.columns("s", "base"), ["id", "score", "name"]);
    let err = rollback(wh.as_mut(), "prod", Some("prod-r99"), fixture::tester(0)).unwrap_err();
    assert!(err.to_string().contains("prod-r99"), "{err}");
}

fn removed_models_lose_their_views(backend: Backend) {
    let f = simple_project(backend);
    f.apply("prod", "2024-01-02");
    f.remove("models/s/child.sql");
    f.apply("prod", "2024-01-02");
    assert!(f.columns("s", "child").is_empty());
    assert_eq!(f.columns("s", "base"), ["id", "name"]);
}

fn blocking_audit_failure_leaves_the_environment_untouched(backend: Backend) {
    let f = simple_project(backend);
    f.apply("prod", "2024-01-02");
    let audited = "kind FULL, audits (not_null(columns := [name]))";
    f.write(
        "models/s/base.sql",
        &model(
            "s.base",
            audited,
            "SELECT 1 AS id, 'a' AS name UNION ALL SELECT 2, NULL",
        ),
    );
    let plan = f.plan("prod", "2024-01-02");
    let err = f.try_apply_plan(&plan).unwrap_err();
    match &err {
        ApplyError::AuditFailed { failures, .. } => {
            assert_eq!(failures[0].audit, "not_null");
            assert_eq!(failures[0].violations, 1);
        }
        other => panic!("expected an audit failure, got {other}"),
    }
    assert!(err.to_string().contains("was not changed"), "{err}");
    assert_eq!(
        f.rows("SELECT id, name FROM s.base ORDER BY id"),
        ["1|a", "2|b"],
        "prod still serves the old data"
    );
    let mut wh = f.warehouse();
    let env = StateStore::new(wh.as_mut())
        .environment("prod")
        .unwrap()
        .unwrap();
    assert_eq!(env.release_id.as_deref(), Some("prod-r1"));
    // The failed batch was not recorded: the next plan still wants it.
    assert!(f.plan("prod", "2024-01-02").has_work());

    // A non-blocking audit only warns.
    let warned = "kind FULL, audits (not_null_non_blocking(columns := [name]))";
    f.write(
        "models/s/base.sql",
        &model(
            "s.base",
            warned,
            "SELECT 1 AS id, 'a' AS name UNION ALL SELECT 2, NULL",
        ),
    );
    let release = f.apply("prod", "2024-01-02");
    assert!(release.audits.iter().any(|a| !a.passed() && !a.blocking));
    assert_eq!(
        f.rows("SELECT COUNT(*) FROM s.base WHERE name IS NULL"),
        ["1"]
    );
}

fn janitor_drops_expired_environments_and_unreferenced_tables(backend: Backend) {
    let f = simple_project(backend);
    f.apply("prod", "2024-01-02");
    rename_base(&f, "changed");
    let dev = f.apply("dev", "2024-01-02");
    let dev_tables: Vec<_> = dev.snapshots.iter().map(|s| s.table()).collect();
    let mut wh = f.warehouse();

    // Before expiry nothing goes.
    let report = janitor(wh.as_mut(), 1_704_153_600, 5, 0).unwrap();
    assert!(
        report.dropped_environments.is_empty() && report.dropped_tables.is_empty(),
        "{report:?}"
    );

    // After the TTL (fixture: one hour), dev and the tables only it used are dropped.
    let later = 1_704_153_600 + 2 * DAY / 1000;
    let report = janitor(wh.as_mut(), later, 5, 0).unwrap();
    assert_eq!(report.dropped_environments, ["dev"]);
    assert_eq!(
        report.dropped_tables.len(),
        2,
        "dev's base and child: {report:?}"
    );
    assert!(dev_tables.iter().all(|t| report.dropped_tables.contains(t)));
    assert!(f.columns("s__dev", "base").is_empty());
    assert_eq!(
        f.rows("SELECT count(*) FROM information_schema.schemata WHERE schema_name = 's__dev'"),
        ["0"],
        "dev's emptied schema is dropped too"
    );
    assert_eq!(
        f.rows("SELECT name FROM s.base ORDER BY id"),
        ["a", "b"],
        "prod keeps its tables"
    );
    assert!(
        StateStore::new(wh.as_mut())
            .environment("dev")
            .unwrap()
            .is_none()
    );
}

fn rollback_refuses_when_tables_are_gone(backend: Backend) {
    let f = simple_project(backend);
    f.apply("prod", "2024-01-02");
    rename_base(&f, "changed");
    f.apply("prod", "2024-01-02");
    let mut wh = f.warehouse();
    // Keep only the live release restorable: r1's tables go.
    // Within the grace period an apply may still be building: nothing is dropped.
    let applied_at = 1_704_153_600; // the fixture's apply time, 2024-01-02
    let report = janitor(wh.as_mut(), applied_at + 60, 1, 3600).unwrap();
    assert!(report.dropped_tables.is_empty(), "{report:?}");
    let report = janitor(wh.as_mut(), applied_at + 7200, 1, 3600).unwrap();
    assert_eq!(report.dropped_tables.len(), 2, "{report:?}");
    let err = rollback(wh.as_mut(), "prod", None, fixture::tester(0)).unwrap_err();
    assert!(matches!(err, PromoteError::Refused(_)), "{err}");
    assert!(err.to_string().contains("tables are gone"), "{err}");
    assert_eq!(
        f.rows("SELECT name FROM s.base"),
        ["changed"],
        "a refused rollback changes nothing"
    );
}

fn concurrent_applies_to_one_environment_do_not_interleave(backend: Backend) {
    let f = simple_project(backend);
    f.apply("prod", "2024-01-02");
    rename_base(&f, "one");
    let first = f.plan("prod", "2024-01-02");
    rename_base(&f, "two");
    let second = f.plan("prod", "2024-01-02");
    f.try_apply_plan(&first).unwrap();
    let err = f.try_apply_plan(&second).unwrap_err();
    match &err {
        ApplyError::Promote(PromoteError::State(StateError::Conflict {
            expected, found, ..
        })) => {
            assert_eq!((*expected, *found), (Some(1), Some(2)));
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert!(err.to_string().contains("re-run `sluice plan`"), "{err}");
    assert_eq!(f.rows("SELECT name FROM s.base"), ["one"]);
}

fn every_built_in_audit_passes_and_fails(backend: Backend) {
    use sluice_engine::audit::fixtures::{AUDIT_CASES, FIXTURE_SETUP, FIXTURE_TABLE};
    let f = Fixture::new(backend, &[]);
    let mut wh = f.warehouse();
    for sql in FIXTURE_SETUP {
        wh.execute(sql).unwrap();
    }
    let mut outcomes: std::collections::BTreeMap<String, (bool, bool)> = Default::default();
    for case in AUDIT_CASES {
        let sql = case.render(FIXTURE_TABLE).unwrap();
        let rows = wh
            .query(&format!("SELECT COUNT(*) FROM (\n{sql}\n) AS a"))
            .unwrap_or_else(|e| panic!("{}: {e}", case.call));
        let violations: usize = rows[0][0].as_deref().unwrap().parse().unwrap();
        assert_eq!(violations, case.violations, "{} on {backend:?}", case.call);
        let name = case
            .call
            .split('(')
            .next()
            .unwrap()
            .trim_end_matches("_non_blocking")
            .to_string();
        let seen = outcomes.entry(name).or_default();
        if violations == 0 {
            seen.0 = true;
        } else {
            seen.1 = true;
        }
    }
    let required = [
        "not_null",
        "unique_values",
        "accepted_values",
        "not_accepted_values",
        "number_of_rows",
        "forall",
        "accepted_range",
        "at_least_one",
        "not_empty_string",
        "unique_combination_of_columns",
    ];
    for audit in required {
        assert_eq!(
            outcomes.get(audit),
            Some(&(true, true)),
            "{audit} is covered passing and failing"
        );
    }
}

/// SQLMesh macros and Jinja, expanded when the project loads with its variables; time
/// variables and `@this_model` (also inside Jinja and pre/post statements) filled in per batch.
fn macro_and_jinja_models_run(backend: Backend) {
    let f = Fixture::new(
        backend,
        &[
            (
                "config.yaml",
                "model_defaults:\n  start: '2024-01-01'\n  cron: '@daily'\n\
                 variables:\n  min_v: 2\n",
            ),
            (
                "macros/util.sql",
                "{% macro doubled(col) %}{{ col }} * 2{% endmacro %}\n",
            ),
            (
                "models/ext/events.sql",
                &model("ext.events", "kind EXTERNAL", ""),
            ),
            (
                "models/s/totals.sql",
                &model(
                    "s.totals",
                    "kind FULL",
                    "@DEF(agg, x -> SUM(x) AS total_@x);\n@DEF(measures, [v, id]);\n\
                     CREATE TABLE IF NOT EXISTS ext.runs (model TEXT, n INT);\n\
                     SELECT @EACH(@measures, m -> @agg(@m)) FROM ext.events WHERE v >= @min_v;\n\
                     INSERT INTO ext.runs SELECT 'totals', COUNT(*) FROM @this_model",
                ),
            ),
            (
                "models/s/daily.sql",
                &model(
                    "s.daily",
                    "kind INCREMENTAL_BY_TIME_RANGE (time_column d, batch_size 1)",
                    "JINJA_QUERY_BEGIN;\n\
                     SELECT d, {{ doubled('SUM(v)') }} AS twice, '{{ start_ds }}' AS batch\n\
                     FROM ext.events\n\
                     WHERE d BETWEEN '{{ start_ds }}' AND '{{ end_ds }}' AND v >= {{ var('min_v') }}\n\
                     GROUP BY d\n\
                     JINJA_END;",
                ),
            ),
        ],
    );
    f.warehouse().execute(EVENTS).unwrap();
    let plan = f.plan("prod", "2024-01-04");
    f.try_apply_plan(&plan).unwrap();
    assert_eq!(f.rows("SELECT total_v, total_id FROM s.totals"), ["26|6"]);
    assert_eq!(
        f.rows("SELECT CAST(d AS VARCHAR), twice, batch FROM s.daily ORDER BY d"),
        ["2024-01-01|30|2024-01-01", "2024-01-02|14|2024-01-02"]
    );
    // The post-statement ran after the query, in the same batch.
    assert_eq!(f.rows("SELECT model, n FROM ext.runs"), ["totals|1"]);
}

/// Part of a public SQLMesh project with Jinja models (the engine's `omop_synthea` fixture),
/// run unchanged: the row counts SQLMesh 0.236.4 computed for it.
#[cfg(feature = "duckdb")]
#[test]
fn a_public_jinja_project_runs_like_sqlmesh() {
    let fixture =
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
            .join("../engine/tests/fixtures/omop_synthea");
    let f = Fixture::new(Backend::Duckdb, &[]);
    let mut pending = vec![fixture.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(&fixture)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string();
            if path.is_dir() {
                pending.push(path);
            } else if !rel.starts_with("expected") {
                f.write(&rel, &std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let plan = f.plan("prod", "2025-05-01");
    f.try_apply_plan(&plan).unwrap();
    assert_eq!(f.rows("SELECT COUNT(*) FROM int.location"), ["90"]);
    assert_eq!(f.rows("SELECT COUNT(*) FROM int.person"), ["27"]);
    assert_eq!(
        f.rows("SELECT location_id, city, location_source_value FROM int.location ORDER BY location_id LIMIT 2"),
        [
            "1|ASHLAND|e4c4609cf7c07ecb10fa3439f1f693e8",
            "2|ATTLEBORO|5cfdc8b91b52dd8f6e662dd18445e47e"
        ]
    );
}

on_both_warehouses!(
    macro_and_jinja_models_run,
    every_kind_backfills,
    apply_promote_and_roll_back,
    removed_models_lose_their_views,
    blocking_audit_failure_leaves_the_environment_untouched,
    janitor_drops_expired_environments_and_unreferenced_tables,
    rollback_refuses_when_tables_are_gone,
    concurrent_applies_to_one_environment_do_not_interleave,
    every_built_in_audit_passes_and_fails,
);

/// Without a `start`, a model starts where SQLMesh infers it: a child from its parents'
/// earliest start, a model without parents at its last complete interval (checked against
/// SQLMesh 0.236.4 on the same project).
fn a_model_without_a_start_starts_where_sqlmesh_says(backend: Backend) {
    let f = Fixture::new(backend, &[]);
    f.write("config.yaml", "model_defaults:\n  dialect: duckdb\n");
    let incremental = |name: &str, extra: &str, query: &str| {
        model(
            name,
            &format!("kind INCREMENTAL_BY_TIME_RANGE (time_column d){extra}"),
            query,
        )
    };
    f.write(
        "models/a.sql",
        &incremental(
            "ds.a_with_start",
            ",\n  start '2024-01-01',\n  cron '@daily'",
            "SELECT @start_ds::DATE AS d",
        ),
    );
    f.write(
        "models/b.sql",
        &incremental(
            "ds.b_child",
            ",\n  cron '@daily'",
            "SELECT d FROM ds.a_with_start WHERE d BETWEEN @start_ds AND @end_ds",
        ),
    );
    f.write(
        "models/c.sql",
        &incremental(
            "ds.c_root",
            ",\n  cron '@daily'",
            "SELECT @start_ds::DATE AS d",
        ),
    );
    f.write(
        "models/d.sql",
        &model(
            "ds.d_hourly_root",
            "kind INCREMENTAL_BY_TIME_RANGE (time_column t),\n  cron '@hourly'",
            "SELECT @start_ts::TIMESTAMP AS t",
        ),
    );
    let plan = f.plan("prod", "2024-01-10 12:00:00");
    let range = |name: &str| {
        let b = plan.backfill.iter().find(|b| b.model == name).unwrap();
        (
            b.batches.first().unwrap().start,
            b.batches.last().unwrap().end,
        )
    };
    assert_eq!(
        range("ds.a_with_start"),
        (fixture::t("2024-01-01"), fixture::t("2024-01-10"))
    );
    assert_eq!(
        range("ds.b_child"),
        (fixture::t("2024-01-01"), fixture::t("2024-01-10"))
    );
    assert_eq!(
        range("ds.c_root"),
        (fixture::t("2024-01-09"), fixture::t("2024-01-10"))
    );
    assert_eq!(
        range("ds.d_hourly_root"),
        (
            fixture::t("2024-01-10 11:00:00"),
            fixture::t("2024-01-10 12:00:00")
        )
    );
}

on_both_warehouses!(a_model_without_a_start_starts_where_sqlmesh_says);

/// A model that fails stops only what reads it: independent models are built (and not again on
/// the rerun), every failure is reported at once, and the environment is not changed.
fn apply_goes_on_past_independent_failures(backend: Backend) {
    let f = Fixture::new(backend, &[]);
    let full = |name: &str, query: &str| model(name, "kind FULL", query);
    f.write("models/good.sql", &full("s.good", "SELECT 1 AS x"));
    f.write(
        "models/bad.sql",
        &full("s.bad", "SELECT CAST('not a number' AS INTEGER) AS x"),
    );
    f.write("models/child.sql", &full("s.child", "SELECT x FROM s.bad"));
    f.write(
        "models/worse.sql",
        &full("s.worse", "SELECT no_such_column FROM s.good"),
    );
    let plan = f.plan("prod", "2024-01-02");
    let err = f.try_apply_plan(&plan).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ApplyError::ModelsFailed { .. }), "{message}");
    assert!(message.contains("2 model(s) failed"), "{message}");
    assert!(
        message.contains("s.bad:") && message.contains("s.worse:"),
        "{message}"
    );
    assert!(
        message.contains("not run, because they read a failed model: s.child"),
        "{message}"
    );
    let mut wh = f.warehouse();
    assert!(
        StateStore::new(wh.as_mut())
            .environment("prod")
            .unwrap()
            .is_none(),
        "nothing was promoted"
    );
    // Fixed: the rerun builds only what failed or was skipped.
    f.write("models/bad.sql", &full("s.bad", "SELECT 2 AS x"));
    f.write("models/worse.sql", &full("s.worse", "SELECT x FROM s.good"));
    let plan = f.plan("prod", "2024-01-02");
    let work: Vec<String> = Fixture::backfilled(&plan).into_keys().collect();
    assert_eq!(
        work,
        ["s.bad", "s.child", "s.worse"],
        "s.good was built by the first apply"
    );
    f.try_apply_plan(&plan).unwrap();
    assert_eq!(f.rows("SELECT x FROM s.child"), ["2"]);
}

on_both_warehouses!(apply_goes_on_past_independent_failures);

/// What public SQLMesh projects rely on: a cast column keeps its name (`id::INT` is `id`), an
/// incremental model reads its own earlier rows, an audit names its model (in any case), its
/// parents and other models (built before it; a non-blocking audit reading a model built after
/// it warns), and a text time column is compared in its declared format.
fn sqlmesh_project_habits_hold(backend: Backend) {
    let f = Fixture::new(
        backend,
        &[
            (
                "config.yaml",
                "model_defaults:\n  start: '2024-01-01'\n  cron: '@daily'\n",
            ),
            (
                "models/ext/events.sql",
                &model("ext.events", "kind EXTERNAL", ""),
            ),
            (
                "models/s/daily.sql",
                &model(
                    "s.daily",
                    "kind INCREMENTAL_BY_TIME_RANGE (time_column (ds, '%Y-%m-%d'), batch_size 1),\n  \
                     audits (matches_events, reads_downstream)",
                    "SELECT id::INT, SUM(v)::BIGINT AS v, CAST(d AS TEXT) AS ds\n\
                     FROM ext.events WHERE d BETWEEN @start_ds AND @end_ds GROUP BY id, d",
                ),
            ),
            (
                "models/s/running.sql",
                &model(
                    "s.running",
                    "kind INCREMENTAL_BY_TIME_RANGE (time_column ds, batch_size 1),\n  \
                     columns (id INT, total BIGINT, ds TEXT)",
                    "WITH today AS (SELECT id, v FROM s.daily WHERE ds = @start_ds),\n\
                     before AS (SELECT id, total FROM s.running\n\
                       WHERE ds = CAST(CAST(CAST(@start_ds AS DATE) - INTERVAL '1' DAY AS DATE) AS TEXT))\n\
                     SELECT COALESCE(t.id, b.id) AS id,\n\
                       COALESCE(t.v, 0) + COALESCE(b.total, 0) AS total, @start_ds AS ds\n\
                     FROM today AS t FULL JOIN before AS b ON t.id = b.id",
                ),
            ),
            (
                "models/s/literal.sql",
                &model(
                    "s.literal",
                    "kind INCREMENTAL_BY_TIME_RANGE (time_column (ds, 'YYYY-MM-dd'))",
                    "SELECT CAST(d AS TEXT) AS ds FROM ext.events WHERE d BETWEEN @start_ds AND @end_ds",
                ),
            ),
            (
                "models/s/aaa_first.sql",
                &model(
                    "s.aaa_first",
                    "kind FULL,\n  audits (within_last)",
                    "SELECT 3 AS id",
                ),
            ),
            (
                "models/s/zzz_last.sql",
                &model("s.zzz_last", "kind FULL", "SELECT 3 AS id"),
            ),
            (
                "audits/within_last.sql",
                "AUDIT (name within_last);\n\
                 SELECT * FROM @this_model WHERE id NOT IN (SELECT id FROM s.zzz_last)",
            ),
            (
                "audits/reads_downstream.sql",
                "AUDIT (name reads_downstream, blocking false);\n\
                 SELECT * FROM @this_model WHERE id NOT IN (SELECT id FROM s.running)",
            ),
            (
                "audits/matches_events.sql",
                "AUDIT (name matches_events);\n\
                 SELECT d.id FROM S.DAILY AS d LEFT JOIN ext.events AS e ON d.id = e.id\n\
                 WHERE e.id IS NULL;;\n",
            ),
        ],
    );
    f.warehouse().execute(EVENTS).unwrap();
    let plan = f.plan("prod", "2024-01-04");
    f.try_apply_plan(&plan).unwrap();
    assert_eq!(
        f.rows("SELECT id, v, ds FROM s.daily ORDER BY ds, id"),
        [
            "1|10|2024-01-01",
            "2|5|2024-01-01",
            "1|7|2024-01-02",
            "3|1|2024-01-03"
        ]
    );
    assert_eq!(
        f.rows("SELECT id, total FROM s.running WHERE ds = '2024-01-03' ORDER BY id"),
        ["1|17", "2|5", "3|1"],
        "each day added to the day before"
    );
    assert_eq!(
        f.rows("SELECT count(*) FROM s.literal"),
        ["0"],
        "a format without directives matches no row, as in SQLMesh"
    );
}

on_both_warehouses!(sqlmesh_project_habits_hold);
