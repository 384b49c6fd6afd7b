//! Prepare, run and promote as separate, repeatable steps (what the operator drives), release
//! records that never lie, scheduled runs, promotion-time statements. Every test runs on
//! DuckDB and on PostgreSQL.

mod fixture;
mod support;

use fixture::{Backend, Fixture, model, t, tester};
use sluice_engine::snapshot::{Approval, PhysicalTable};
use sluice_warehouse::apply::prepare;
use sluice_warehouse::executor::{plan_work, run_work};
use sluice_warehouse::janitor::janitor;
use sluice_warehouse::promote::{
    PromoteError, PromoteMeta, drop_environment, promote_plan, rollback,
};
use sluice_warehouse::run::{pending_work, run_environment};
use sluice_warehouse::state::StateStore;

const DAILY: &str =
    "SELECT d, SUM(v) AS total FROM ext.events WHERE d BETWEEN @start_ds AND @end_ds GROUP BY d";

const EVENTS: &str = "CREATE SCHEMA ext; CREATE TABLE ext.events (id INTEGER, d DATE, v INTEGER);
INSERT INTO ext.events VALUES (1, '2024-01-01', 10), (2, '2024-01-02', 5),
(1, '2024-01-03', 7), (3, '2024-01-04', 1)";

fn project(backend: Backend) -> Fixture {
    Fixture::with_external_events(
        backend,
        EVENTS,
        &[
            (
                "models/s/daily.sql",
                model(
                    "s.daily",
                    "kind INCREMENTAL_BY_TIME_RANGE (time_column d, batch_size 1),\n  audits (not_null(columns := [total]))",
                    DAILY,
                ),
            ),
            (
                "models/s/names.sql",
                model("s.names", "kind FULL", "SELECT DISTINCT id FROM ext.events"),
            ),
            (
                "models/s/summary.sql",
                model(
                    "s.summary",
                    "kind FULL",
                    "SELECT COUNT(*) AS days FROM s.daily JOIN s.names ON TRUE",
                ),
            ),
        ],
    )
}

fn alice(now: i64, digest: &str) -> PromoteMeta {
    PromoteMeta {
        approvals: vec![Approval {
            user: "alice".into(),
            at: now,
            digest: digest.into(),
            groups: vec!["data-owners".into()],
            comment: Some("looks right".into()),
        }],
        request_id: Some("promotion-uid-1".into()),
        ..tester(now)
    }
}

fn steps_run_separately_repeat_safely_and_promote_once(backend: Backend) {
    let f = project(backend);
    let mut ws = f.workspace();
    let plan = f.plan("prod", "2024-01-03");
    let digest = plan.basis.digest.clone();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );

    // Prepare twice: one registration.
    let statements = ws.project.config.statements.clone();
    prepare(ws.warehouse.as_mut(), &plan, &statements, 100).unwrap();
    prepare(ws.warehouse.as_mut(), &plan, &statements, 101).unwrap();

    // The work is a graph: summary waits for both of its parents.
    let work = plan_work(&plan, &ws.project.audits);
    let order: Vec<&str> = work.iter().map(|w| w.model.as_str()).collect();
    assert_eq!(order, ["s.daily", "s.names", "s.summary"]);
    assert_eq!(work[2].depends_on, ["s.daily", "s.names"]);
    assert!(work[0].depends_on.is_empty() && work[1].depends_on.is_empty());

    // Promoting before the work is done is refused, naming what is missing.
    let err = promote_plan(ws.warehouse.as_mut(), &plan.basis.id, tester(102)).unwrap_err();
    assert!(
        matches!(&err, PromoteError::Incomplete { missing, .. } if missing.iter().any(|m| m.contains("s.daily"))),
        "{err}"
    );

    // Run the first unit partly "elsewhere", then all of it: recorded batches are skipped.
    let daily = &work[0];
    let mut first_only = daily.clone();
    first_only.batches.truncate(1);
    run_work(ws.warehouse.as_mut(), &first_only, &mut |_| {}).unwrap();
    let rerun = run_work(ws.warehouse.as_mut(), daily, &mut |_| {}).unwrap();
    assert_eq!(rerun.skipped, [daily.batches[0]]);
    for unit in &work[1..] {
        run_work(ws.warehouse.as_mut(), unit, &mut |_| {}).unwrap();
    }

    // The digest does not move as the backfill completes.
    assert_eq!(f.plan("prod", "2024-01-03").basis.digest, digest);

    let release = promote_plan(ws.warehouse.as_mut(), &plan.basis.id, alice(103, &digest)).unwrap();
    assert_eq!(release.id, "prod-r1");
    assert_eq!(release.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(release.approvals[0].user, "alice");
    assert_eq!(release.approvals[0].digest, digest);
    // Audit evidence from state, one per batch, with what ran it.
    let audits: Vec<_> = release
        .audits
        .iter()
        .filter(|a| a.model == "s.daily")
        .collect();
    assert_eq!(audits.len(), 2, "{audits:?}");
    assert!(
        audits
            .iter()
            .all(|a| a.passed() && a.ran_at > 0 && a.task.contains("audit s.daily"))
    );

    // The same request again: the same release, no second flip.
    let again = promote_plan(ws.warehouse.as_mut(), &plan.basis.id, alice(104, &digest)).unwrap();
    assert_eq!(again, release);
    let mut state = StateStore::new(ws.warehouse.as_mut());
    assert_eq!(state.releases("prod").unwrap().len(), 1);
    // The stored record reads back with its evidence.
    assert_eq!(state.release("prod-r1").unwrap(), Some(release));

    // Once prod moved on, the same project plans to a different digest.
    assert_ne!(f.plan("prod", "2024-01-03").basis.digest, digest);
}

fn promotion_refuses_a_table_that_is_not_there(backend: Backend) {
    let f = project(backend);
    let mut ws = f.workspace();
    let plan = f.plan("prod", "2024-01-03");
    prepare(ws.warehouse.as_mut(), &plan, &Default::default(), 100).unwrap();
    for unit in plan_work(&plan, &ws.project.audits) {
        run_work(ws.warehouse.as_mut(), &unit, &mut |_| {}).unwrap();
    }
    let names = plan
        .snapshots
        .iter()
        .find(|s| s.model.name == "s.names")
        .unwrap();
    ws.warehouse
        .execute(&format!("DROP TABLE {}", names.table().quoted()))
        .unwrap();
    let err = promote_plan(ws.warehouse.as_mut(), &plan.basis.id, tester(101)).unwrap_err();
    assert!(
        matches!(&err, PromoteError::MissingTables { tables, .. } if tables.iter().any(|t| t.contains("s.names"))),
        "{err}"
    );
    assert!(f.columns("s", "daily").is_empty(), "nothing was promoted");
}

fn release_ids_are_never_reused(backend: Backend) {
    let f = project(backend);
    f.apply("prod", "2024-01-03");
    let first = f.apply("dev", "2024-01-03");
    assert_eq!(first.id, "dev-r1");
    let mut wh = f.warehouse();
    let env = StateStore::new(wh.as_mut())
        .environment("dev")
        .unwrap()
        .unwrap();
    drop_environment(wh.as_mut(), &env).unwrap();
    let again = f.apply("dev", "2024-01-03");
    assert_eq!(again.id, "dev-r2");
    let mut state = StateStore::new(wh.as_mut());
    assert_eq!(state.release("dev-r1").unwrap(), Some(first));
    let ids: Vec<String> = state
        .releases("dev")
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["dev-r2", "dev-r1"]);
}

fn two_rollbacks_step_back_two_releases(backend: Backend) {
    let f = project(backend);
    for (i, factor) in ["1", "2", "3"].iter().enumerate() {
        let query = format!("SELECT DISTINCT id * {factor} AS id FROM ext.events");
        f.write("models/s/names.sql", &model("s.names", "kind FULL", &query));
        f.apply("prod", "2024-01-03");
        assert_eq!(
            f.rows("SELECT MAX(id) FROM s.names"),
            [format!("{}", 3 * (i + 1))]
        );
    }
    let mut wh = f.warehouse();
    let back = rollback(wh.as_mut(), "prod", None, tester(0)).unwrap();
    assert_eq!(back.restored_release.as_deref(), Some("prod-r2"));
    assert_eq!(f.rows("SELECT MAX(id) FROM s.names"), ["6"]);
    let back = rollback(wh.as_mut(), "prod", None, tester(0)).unwrap();
    assert_eq!(back.restored_release.as_deref(), Some("prod-r1"));
    assert_eq!(f.rows("SELECT MAX(id) FROM s.names"), ["3"]);
    let err = rollback(wh.as_mut(), "prod", None, tester(0)).unwrap_err();
    assert!(err.to_string().contains("no release before"), "{err}");
}

fn the_janitor_spares_a_live_plan_however_long_it_runs(backend: Backend) {
    let f = project(backend);
    let mut ws = f.workspace();
    let plan = f.plan("prod", "2024-01-03");
    prepare(ws.warehouse.as_mut(), &plan, &Default::default(), 1_000).unwrap();
    let work = plan_work(&plan, &ws.project.audits);
    run_work(ws.warehouse.as_mut(), &work[1], &mut |_| {}).unwrap();
    let built = PhysicalTable::new("s.names", &work[1].target.snapshot.version);
    // Hours later, with no grace period: the plan's heartbeat keeps its tables.
    let now = chrono::Utc::now().timestamp();
    let report = janitor(ws.warehouse.as_mut(), now + 600, 5, 0).unwrap();
    assert!(!report.dropped_tables.contains(&built), "{report:?}");
    // A plan nobody works on any more (no heartbeat for longer than the lease) protects nothing.
    let report = janitor(ws.warehouse.as_mut(), now + 3 * 3600, 5, 0).unwrap();
    assert!(report.dropped_tables.contains(&built), "{report:?}");
}

fn scheduled_runs_process_new_intervals_once(backend: Backend) {
    let f = project(backend);
    f.apply("prod", "2024-01-03");
    assert_eq!(f.rows("SELECT COUNT(*) FROM s.daily"), ["2"]);
    let mut wh = f.warehouse();
    let pending = pending_work(wh.as_mut(), "prod", t("2024-01-05")).unwrap();
    let daily = pending.iter().find(|w| w.model == "s.daily").unwrap();
    assert_eq!(daily.batches.len(), 2);
    let report = run_environment(wh.as_mut(), "prod", t("2024-01-05"), &mut |_, _| {}).unwrap();
    assert!(report.models.iter().any(|(m, n)| m == "s.daily" && *n == 2));
    assert_eq!(f.rows("SELECT COUNT(*) FROM s.daily"), ["4"]);
    // Nothing new: nothing to do (FULL models are rebuilt once per new interval, not again).
    let pending = pending_work(wh.as_mut(), "prod", t("2024-01-05")).unwrap();
    assert!(pending.is_empty(), "{pending:?}");
    let releases = StateStore::new(wh.as_mut()).releases("prod").unwrap();
    assert_eq!(releases.len(), 1, "a run never promotes");
    let err = run_environment(wh.as_mut(), "staging", t("2024-01-05"), &mut |_, _| {}).unwrap_err();
    assert!(
        err.to_string().contains("\"staging\" does not exist"),
        "{err}"
    );
}

fn promotion_statements_run_in_the_flip_and_a_failure_changes_nothing(backend: Backend) {
    let f = project(backend);
    let config = "model_defaults:\n  start: '2024-01-01'\n  cron: '@daily'\n\
        before_all:\n  - CREATE TABLE IF NOT EXISTS public.promotions (env TEXT, view_name TEXT)\n\
        after_all:\n  - INSERT INTO public.promotions SELECT @this_env, '@view' FROM (SELECT COUNT(*) FROM @view) AS v\n";
    f.write("config.yaml", config);
    if let Backend::Duckdb | Backend::DuckdbStateApart = backend {
        f.warehouse()
            .execute("CREATE SCHEMA IF NOT EXISTS public")
            .unwrap();
    }
    f.apply("prod", "2024-01-03");
    let logged = f.rows("SELECT env, view_name FROM public.promotions ORDER BY view_name");
    assert_eq!(
        logged,
        [
            "prod|\"s\".\"daily\"",
            "prod|\"s\".\"names\"",
            "prod|\"s\".\"summary\""
        ]
    );
    let release = f.rows("SELECT COUNT(*) FROM s.daily");

    // A failing statement aborts the promotion: old views, no new release.
    f.write(
        "config.yaml",
        &config.replace(
            "after_all:\n",
            "after_all:\n  - SELECT * FROM public.no_such_table\n",
        ),
    );
    f.write(
        "models/s/names.sql",
        &model(
            "s.names",
            "kind FULL",
            "SELECT DISTINCT id + 1 AS id FROM ext.events",
        ),
    );
    let err = f.try_apply_plan(&f.plan("prod", "2024-01-03")).unwrap_err();
    assert!(err.to_string().contains("after_all"), "{err}");
    assert_eq!(f.rows("SELECT MIN(id) FROM s.names"), ["1"]);
    assert_eq!(f.rows("SELECT COUNT(*) FROM s.daily"), release);
    let mut wh = f.warehouse();
    assert_eq!(
        StateStore::new(wh.as_mut()).releases("prod").unwrap().len(),
        1
    );
}

on_both_warehouses!(
    steps_run_separately_repeat_safely_and_promote_once,
    promotion_refuses_a_table_that_is_not_there,
    release_ids_are_never_reused,
    two_rollbacks_step_back_two_releases,
    the_janitor_spares_a_live_plan_however_long_it_runs,
    scheduled_runs_process_new_intervals_once,
    promotion_statements_run_in_the_flip_and_a_failure_changes_nothing,
);

/// DuckDB names a file's catalog after its stem; Sluice attaches it under a fixed name so a
/// file called like Sluice's own schema, or like a model's schema, works.
#[cfg(feature = "duckdb")]
#[test]
fn any_duckdb_file_name_works() {
    for name in ["sluice.duckdb", "s.duckdb", "ext.duckdb"] {
        let f = project(Backend::Duckdb);
        let url = format!("duckdb:{}", f.root().join(name).display());
        let f = Fixture {
            url: url.clone(),
            ..f
        };
        f.warehouse()
            .execute(
                "CREATE SCHEMA ext; CREATE TABLE ext.events (id INTEGER, d DATE, v INTEGER);
                 INSERT INTO ext.events VALUES (1, '2024-01-01', 10)",
            )
            .unwrap();
        f.apply("prod", "2024-01-03");
        f.apply("dev", "2024-01-03");
        assert_eq!(f.rows("SELECT COUNT(*) FROM s.names"), ["1"], "{name}");
    }
}
