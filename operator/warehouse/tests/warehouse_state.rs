//! Warehouse adapters and the state store, with the same test bodies run on DuckDB and on
//! PostgreSQL: whatever Sluice relies on must behave identically on both.
#![cfg(any(feature = "duckdb", feature = "postgres"))]

#[path = "../../cli/tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sluice_engine::intervals::Interval;
use sluice_engine::model::{Dialect, Model, ModelKind};
use sluice_engine::snapshot::{
    Approval, EnvironmentRecord, Fingerprint, Release, ReleaseKind, Snapshot, SnapshotId,
    SnapshotRef,
};
use sluice_warehouse::state::{LAYOUT_VERSION, StateError, StateStore};
use sluice_warehouse::warehouse::{self, Row, Warehouse, WarehouseError};

/// A warehouse under test, and a way to open more connections to the same database.
struct Fixture {
    warehouse: Box<dyn Warehouse>,
    open_another: Box<dyn Fn() -> Box<dyn Warehouse>>,
    /// Keeps a DuckDB file's directory alive for the test's duration.
    _dir: Option<tempfile::TempDir>,
}

impl Fixture {
    #[cfg(feature = "duckdb")]
    fn duckdb() -> Fixture {
        use sluice_warehouse::warehouse::duckdb::DuckdbWarehouse;
        let dir = tempfile::tempdir().unwrap();
        // A nested path also checks that missing parent directories are created.
        let path = dir.path().join("nested").join("warehouse.duckdb");
        let warehouse = DuckdbWarehouse::open(&path).unwrap();
        let origin = warehouse.try_clone().unwrap();
        Fixture {
            warehouse: Box::new(warehouse),
            open_another: Box::new(move || Box::new(origin.try_clone().unwrap())),
            _dir: Some(dir),
        }
    }

    #[cfg(feature = "postgres")]
    fn postgres() -> Fixture {
        let url = support::postgres_url();
        Fixture {
            warehouse: warehouse::connect(&url).unwrap(),
            open_another: Box::new(move || warehouse::connect(&url).unwrap()),
            _dir: None,
        }
    }

    fn state(&mut self) -> StateStore<'_> {
        let mut state = StateStore::new(&mut *self.warehouse);
        state.init().unwrap();
        state
    }
}

/// One `#[test]` per warehouse for each shared test body.
macro_rules! on_both_warehouses {
    ($($body:ident),* $(,)?) => {
        #[cfg(feature = "duckdb")]
        mod on_duckdb {
            $(#[test] fn $body() { super::$body(&mut super::Fixture::duckdb()) })*
        }
        #[cfg(feature = "postgres")]
        mod on_postgres {
            $(#[test] fn $body() { super::$body(&mut super::Fixture::postgres()) })*
        }
    };
}

on_both_warehouses!(
    values_render_as_postgres_text,
    execute_runs_several_statements,
    sql_errors_name_the_statement,
    rolled_back_ddl_is_gone,
    readers_see_a_view_swap_only_when_committed,
    init_is_idempotent,
    snapshots_round_trip,
    intervals_merge_and_split,
    all_intervals_loads_many_tables_quickly,
    environment_writes_check_the_revision,
    environment_writes_follow_the_callers_transaction,
    releases_are_listed_newest_first,
);

fn text(values: &[Option<&str>]) -> Row {
    values.iter().map(|v| v.map(str::to_string)).collect()
}

fn values_render_as_postgres_text(f: &mut Fixture) {
    let rows = f
        .warehouse
        .query(
            "SELECT CAST(42 AS INTEGER), CAST(-7 AS BIGINT), CAST(3 AS SMALLINT),
                    CAST(12.5 AS DECIMAL(10, 2)), CAST(-0.05 AS NUMERIC(4, 3)),
                    CAST(1.5 AS DOUBLE PRECISION), CAST(0.1 AS DOUBLE PRECISION),
                    CAST(1e20 AS DOUBLE PRECISION), CAST(0.00001 AS DOUBLE PRECISION),
                    CAST(2.5 AS REAL), CAST(1000000 AS REAL),
                    CAST('2024-02-29' AS DATE),
                    CAST('2024-01-02 03:04:05' AS TIMESTAMP),
                    CAST('2024-01-02 03:04:05.25' AS TIMESTAMP),
                    CAST('2024-01-02 03:04:05+00' AS TIMESTAMP WITH TIME ZONE),
                    TRUE, FALSE, 'it''s, “quoted”', CAST(NULL AS INTEGER),
                    INTERVAL '1 day 2 hours', CAST('12:30:00' AS TIME)",
        )
        .unwrap();
    assert_eq!(
        rows,
        vec![text(&[
            Some("42"),
            Some("-7"),
            Some("3"),
            Some("12.50"),
            Some("-0.050"),
            Some("1.5"),
            Some("0.1"),
            Some("1e+20"),
            Some("1e-05"),
            Some("2.5"),
            Some("1e+06"),
            Some("2024-02-29"),
            Some("2024-01-02 03:04:05"),
            Some("2024-01-02 03:04:05.25"),
            Some("2024-01-02 03:04:05+00"),
            Some("t"),
            Some("f"),
            Some("it's, “quoted”"),
            None,
            Some("1 day 02:00:00"),
            Some("12:30:00"),
        ])]
    );

    let rows = f
        .warehouse
        .query(
            "SELECT ARRAY[1, NULL, 3], ARRAY['a b', 'c'], INTERVAL '1 year 2 months -3 days',
                    CAST('infinity' AS TIMESTAMP), CAST('-infinity' AS DATE),
                    CAST(-1.25e-7 AS DOUBLE PRECISION), CAST(123456789.125 AS DOUBLE PRECISION),
                    CAST('0044-03-15' AS DATE) - 1, CAST(9223372036854775807 AS BIGINT),
                    CAST('00000000-0000-0000-0000-000000000001' AS UUID)",
        )
        .unwrap();
    assert_eq!(
        rows,
        vec![text(&[
            Some("{1,NULL,3}"),
            Some("{\"a b\",c}"),
            Some("1 year 2 mons -3 days"),
            Some("infinity"),
            Some("-infinity"),
            Some("-1.25e-07"),
            Some("123456789.125"),
            Some("0044-03-14"),
            Some("9223372036854775807"),
            Some("00000000-0000-0000-0000-000000000001"),
        ])]
    );

    // Aggregates over a table: COUNT is BIGINT on both, SUM is HUGEINT on DuckDB.
    f.warehouse
        .execute(
            "CREATE TABLE amounts (id INTEGER, amount DECIMAL(10, 2), paid_at TIMESTAMP);
             INSERT INTO amounts VALUES (1, 1.10, '2024-01-01 00:00:00'),
                                        (2, 2.20, '2024-01-01 12:00:00'),
                                        (3, NULL, NULL)",
        )
        .unwrap();
    let rows = f
        .warehouse
        .query("SELECT COUNT(*), SUM(id), SUM(amount), MAX(paid_at), MIN(CAST(paid_at AS DATE)) FROM amounts")
        .unwrap();
    assert_eq!(
        rows,
        vec![text(&[
            Some("3"),
            Some("6"),
            Some("3.30"),
            Some("2024-01-01 12:00:00"),
            Some("2024-01-01")
        ])]
    );
    assert!(
        f.warehouse
            .query("SELECT id FROM amounts WHERE id > 10")
            .unwrap()
            .is_empty()
    );
}

fn execute_runs_several_statements(f: &mut Fixture) {
    f.warehouse
        .execute(
            "CREATE SCHEMA shop;
             CREATE TABLE shop.orders (id INTEGER, customer TEXT);
             INSERT INTO shop.orders VALUES (1, 'ann'), (2, NULL);
             INSERT INTO shop.orders VALUES (3, 'o''brien');",
        )
        .unwrap();
    let rows = f
        .warehouse
        .query("SELECT id, customer FROM shop.orders ORDER BY id")
        .unwrap();
    assert_eq!(
        rows,
        vec![
            text(&[Some("1"), Some("ann")]),
            text(&[Some("2"), None]),
            text(&[Some("3"), Some("o'brien")]),
        ]
    );
}

fn sql_errors_name_the_statement(f: &mut Fixture) {
    let error = f
        .warehouse
        .query("SELECT * FROM no_such_table")
        .unwrap_err();
    assert!(matches!(error, WarehouseError::Sql { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("no_such_table"), "{message}");
    assert!(
        message.contains("while running: SELECT * FROM no_such_table"),
        "{message}"
    );
}

fn rolled_back_ddl_is_gone(f: &mut Fixture) {
    let wh = &mut f.warehouse;
    wh.execute("CREATE TABLE base (x INTEGER); INSERT INTO base VALUES (1)")
        .unwrap();

    wh.begin().unwrap();
    wh.execute("CREATE SCHEMA analytics; CREATE VIEW analytics.v AS SELECT x FROM base")
        .unwrap();
    assert_eq!(
        wh.query("SELECT x FROM analytics.v").unwrap(),
        vec![text(&[Some("1")])]
    );
    wh.rollback().unwrap();
    assert!(
        wh.query("SELECT x FROM analytics.v").is_err(),
        "the view survived a rollback"
    );

    wh.begin().unwrap();
    wh.execute("CREATE SCHEMA analytics; CREATE VIEW analytics.v AS SELECT x FROM base")
        .unwrap();
    wh.commit().unwrap();
    assert_eq!(
        wh.query("SELECT x FROM analytics.v").unwrap(),
        vec![text(&[Some("1")])]
    );
}

/// A promotion swaps views while consumers read them: a reader must see all the old views or
/// all the new ones, never a mix. (DuckDB answers from the old catalog until the commit;
/// PostgreSQL makes the reader wait for the swap's locks.)
fn readers_see_a_view_swap_only_when_committed(f: &mut Fixture) {
    f.warehouse
        .execute(
            "CREATE TABLE t_old (v TEXT); INSERT INTO t_old VALUES ('old');
             CREATE TABLE t_new (v TEXT); INSERT INTO t_new VALUES ('new');
             CREATE SCHEMA env;
             CREATE VIEW env.a AS SELECT v FROM t_old;
             CREATE VIEW env.b AS SELECT v FROM t_old;",
        )
        .unwrap();
    let reader = (f.open_another)();
    let (ask, questions) = std::sync::mpsc::channel::<()>();
    let (tell, answers) = std::sync::mpsc::channel::<Vec<Row>>();
    let reader = std::thread::spawn(move || {
        let mut reader = reader;
        for () in questions {
            let rows = reader.query("SELECT a.v, b.v FROM env.a AS a CROSS JOIN env.b AS b");
            tell.send(rows.unwrap()).unwrap();
        }
    });
    let old = vec![text(&[Some("old"), Some("old")])];
    let new = vec![text(&[Some("new"), Some("new")])];

    f.warehouse.begin().unwrap();
    f.warehouse
        .execute("CREATE OR REPLACE VIEW env.a AS SELECT v FROM t_new")
        .unwrap();
    ask.send(()).unwrap();
    let during_swap = answers.recv_timeout(Duration::from_millis(500)).ok();
    f.warehouse
        .execute("CREATE OR REPLACE VIEW env.b AS SELECT v FROM t_new")
        .unwrap();
    if let Some(rows) = &during_swap {
        assert_eq!(rows, &old, "a reader saw an uncommitted view");
    }
    f.warehouse.commit().unwrap();
    if during_swap.is_none() {
        let rows = answers
            .recv_timeout(Duration::from_secs(30))
            .expect("the reader answered");
        assert!(
            rows == old || rows == new,
            "a reader saw a mix of environments: {rows:?}"
        );
    }
    ask.send(()).unwrap();
    assert_eq!(answers.recv_timeout(Duration::from_secs(30)).unwrap(), new);

    drop(ask);
    reader.join().unwrap();
}

fn init_is_idempotent(f: &mut Fixture) {
    let mut state = f.state();
    state.init().unwrap();
    state.init().unwrap();
    assert_eq!(state.layout_version().unwrap(), LAYOUT_VERSION);
    let rows = state
        .warehouse()
        .query("SELECT COUNT(*) FROM sluice.layout_version")
        .unwrap();
    assert_eq!(rows, vec![text(&[Some("1")])]);
}

fn snapshot(name: &str, data_hash: &str) -> Snapshot {
    Snapshot {
        model: Model {
            name: name.to_string(),
            path: format!("models/{name}.sql").into(),
            kind: ModelKind::Full,
            dialect: Dialect::Duckdb,
            cron: "@daily".to_string(),
            start: Some("2024-01-01".to_string()),
            end: None,
            owner: Some("o'brien".to_string()),
            description: Some("quotes ' and \" and \\ survive; so does ünïcode".to_string()),
            grains: vec![],
            tags: vec!["finance".to_string()],
            audits: vec![],
            depends_on: vec![],
            columns: vec![("id".to_string(), "INT".to_string())],
            query: Some("SELECT 1 AS id -- it's".to_string()),
            query_line: 3,
            pre_statements: vec![],
            post_statements: vec![],
            seed_content: None,
            grants: Default::default(),
            grants_target_layer: Default::default(),
        },
        fingerprint: Fingerprint {
            data_hash: data_hash.to_string(),
            metadata_hash: "m".to_string(),
            parent_data_hash: "p".to_string(),
            parent_metadata_hash: "pm".to_string(),
        },
        version: format!("v{data_hash}"),
        parents: vec![],
        category: None,
        created_at: 1_700_000_000,
        custom_audits: Default::default(),
    }
}

fn snapshots_round_trip(f: &mut Fixture) {
    let mut state = f.state();
    let a = snapshot("shop.orders", "1");
    let b = snapshot("shop.customers", "2");
    let a2 = snapshot("shop.orders", "3");
    state
        .save_snapshots(&[a.clone(), b.clone(), a2.clone()])
        .unwrap();
    // Saving again, with a changed record, replaces rather than duplicates.
    let mut b_changed = b.clone();
    b_changed.created_at += 1;
    state
        .save_snapshots(&[a.clone(), b_changed.clone(), b_changed.clone()])
        .unwrap();

    let unknown = SnapshotId {
        name: "shop.nothing".into(),
        fingerprint: "0".into(),
    };
    let loaded = state.load_snapshots(&[a2.id(), unknown, b.id()]).unwrap();
    assert_eq!(loaded, vec![a2.clone(), b_changed.clone()]);
    let mut all = state.all_snapshots().unwrap();
    all.sort_by_key(|s| s.id());
    let mut expected = vec![a.clone(), b_changed.clone(), a2.clone()];
    expected.sort_by_key(|s| s.id());
    assert_eq!(all, expected);

    state.delete_snapshots(&[a.id(), b.id()]).unwrap();
    assert_eq!(state.all_snapshots().unwrap(), vec![a2]);
    assert!(state.load_snapshots(&[]).unwrap().is_empty());
}

fn intervals_merge_and_split(f: &mut Fixture) {
    let mut state = f.state();
    let day = 86_400_000;
    let i = |start: i64, end: i64| Interval::new(start * day, end * day);
    let (name, version) = ("shop.orders", "v1");

    state.add_interval(name, version, i(0, 1)).unwrap();
    state.add_interval(name, version, i(2, 3)).unwrap();
    assert_eq!(
        state.intervals(name, version).unwrap(),
        vec![i(0, 1), i(2, 3)]
    );
    state.add_interval(name, version, i(1, 2)).unwrap(); // fills the gap: adjacent both sides
    assert_eq!(state.intervals(name, version).unwrap(), vec![i(0, 3)]);
    for _ in 0..3 {
        state.add_interval(name, version, i(1, 2)).unwrap(); // already covered
        state.add_interval(name, version, i(0, 3)).unwrap();
    }
    state.add_interval(name, version, i(2, 5)).unwrap(); // overlapping
    state.add_interval(name, version, i(7, 7)).unwrap(); // empty: ignored
    assert_eq!(state.intervals(name, version).unwrap(), vec![i(0, 5)]);
    let rows = state
        .warehouse()
        .query("SELECT COUNT(*) FROM sluice.intervals")
        .unwrap();
    assert_eq!(rows, vec![text(&[Some("1")])], "merged on write");

    // Restatement splits the stored interval; removing what is not there is harmless.
    state.remove_interval(name, version, i(1, 3)).unwrap();
    assert_eq!(
        state.intervals(name, version).unwrap(),
        vec![i(0, 1), i(3, 5)]
    );
    state.remove_interval(name, version, i(1, 3)).unwrap();
    state.remove_interval(name, version, i(4, 10)).unwrap();
    assert_eq!(
        state.intervals(name, version).unwrap(),
        vec![i(0, 1), i(3, 4)]
    );

    // Other tables are independent.
    state.add_interval(name, "v2", i(10, 11)).unwrap();
    state.add_interval("o'brien.t", version, i(0, 1)).unwrap();
    let all = state.all_intervals().unwrap();
    let expected: HashMap<(String, String), Vec<Interval>> = [
        ((name.to_string(), "v1".to_string()), vec![i(0, 1), i(3, 4)]),
        ((name.to_string(), "v2".to_string()), vec![i(10, 11)]),
        (
            ("o'brien.t".to_string(), version.to_string()),
            vec![i(0, 1)],
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(all, expected);

    state.delete_intervals(name, version).unwrap();
    assert!(state.intervals(name, version).unwrap().is_empty());
    assert_eq!(state.intervals(name, "v2").unwrap(), vec![i(10, 11)]);
}

/// Plans read every table's intervals: 10,000 models must load in well under a second.
fn all_intervals_loads_many_tables_quickly(f: &mut Fixture) {
    let mut state = f.state();
    // Two rows per table, one overlapping the other, as interrupted writers can leave them.
    state
        .warehouse()
        .execute(
            "INSERT INTO sluice.intervals (name, version, start_ms, end_ms)
             SELECT 'schema.model_' || CAST(g.i AS TEXT), 'v1', 0, 100
             FROM generate_series(1, 10000) AS g(i);
             INSERT INTO sluice.intervals (name, version, start_ms, end_ms)
             SELECT 'schema.model_' || CAST(g.i AS TEXT), 'v1', 50, 200
             FROM generate_series(1, 10000) AS g(i);",
        )
        .unwrap();
    let started = Instant::now();
    let all = state.all_intervals().unwrap();
    let elapsed = started.elapsed();
    assert_eq!(all.len(), 10_000);
    assert_eq!(
        all[&("schema.model_42".to_string(), "v1".to_string())],
        vec![Interval::new(0, 200)]
    );
    assert!(
        elapsed < Duration::from_secs(1),
        "all_intervals took {elapsed:?}"
    );
}

fn environment(name: &str, revision: i64) -> EnvironmentRecord {
    EnvironmentRecord {
        name: name.to_string(),
        snapshots: vec![SnapshotRef {
            name: "shop.orders".to_string(),
            fingerprint: "f1".to_string(),
            version: "v1".to_string(),
            kind: "FULL".to_string(),
            grants: Default::default(),
            grants_target_layer: Default::default(),
        }],
        plan_id: format!("plan-{revision}"),
        revision,
        release_id: Some(format!("release-{revision}")),
        expires_at: None,
        updated_at: 1_700_000_000 + revision,
    }
}

fn environment_writes_check_the_revision(f: &mut Fixture) {
    let mut state = f.state();
    assert_eq!(state.environment("prod").unwrap(), None);
    state
        .write_environment(&environment("prod", 1), None)
        .unwrap();
    assert_eq!(
        state.environment("prod").unwrap(),
        Some(environment("prod", 1))
    );

    // A second "create" loses.
    let error = state
        .write_environment(&environment("prod", 1), None)
        .unwrap_err();
    assert!(
        matches!(
            error,
            StateError::Conflict {
                expected: None,
                found: Some(1),
                ..
            }
        ),
        "{error:?}"
    );

    state
        .write_environment(&environment("prod", 2), Some(1))
        .unwrap();
    // A plan computed against revision 1 is now stale.
    let error = state
        .write_environment(&environment("prod", 2), Some(1))
        .unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(
            error,
            StateError::Conflict {
                expected: Some(1),
                found: Some(2),
                ..
            }
        ),
        "{error:?}"
    );
    assert!(message.contains("\"prod\""), "{message}");
    assert!(
        message.contains("revision 1") && message.contains("revision 2"),
        "{message}"
    );
    assert!(message.contains("sluice plan"), "{message}");
    assert_eq!(
        state.environment("prod").unwrap(),
        Some(environment("prod", 2))
    );

    state
        .write_environment(&environment("dev", 1), None)
        .unwrap();
    let names: Vec<String> = state
        .environments()
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["dev", "prod"]);
    state.delete_environment("dev").unwrap();
    let error = state
        .write_environment(&environment("dev", 2), Some(1))
        .unwrap_err();
    assert!(
        matches!(error, StateError::Conflict { found: None, .. }),
        "{error:?}"
    );
    assert_eq!(state.environments().unwrap(), vec![environment("prod", 2)]);
}

/// A promotion swaps views and writes the environment in the caller's transaction: both
/// happen, or (on rollback, including after a conflict) neither does.
fn environment_writes_follow_the_callers_transaction(f: &mut Fixture) {
    f.warehouse
        .execute("CREATE TABLE t1 (v INTEGER); CREATE TABLE t2 (v INTEGER); CREATE SCHEMA shop")
        .unwrap();
    let mut state = f.state();
    state
        .write_environment(&environment("prod", 1), None)
        .unwrap();

    let wh = state.warehouse();
    wh.begin().unwrap();
    wh.execute("CREATE VIEW shop.orders AS SELECT v FROM t1")
        .unwrap();
    state
        .write_environment(&environment("prod", 2), Some(1))
        .unwrap();
    state.warehouse().rollback().unwrap();
    assert_eq!(
        state.environment("prod").unwrap(),
        Some(environment("prod", 1))
    );
    assert!(
        state
            .warehouse()
            .query("SELECT v FROM shop.orders")
            .is_err()
    );

    state.warehouse().begin().unwrap();
    state
        .warehouse()
        .execute("CREATE VIEW shop.orders AS SELECT v FROM t2")
        .unwrap();
    let conflict = state.write_environment(&environment("prod", 5), Some(4));
    assert!(
        matches!(conflict, Err(StateError::Conflict { .. })),
        "{conflict:?}"
    );
    state.warehouse().rollback().unwrap();
    assert!(
        state
            .warehouse()
            .query("SELECT v FROM shop.orders")
            .is_err()
    );

    state.warehouse().begin().unwrap();
    state
        .warehouse()
        .execute("CREATE VIEW shop.orders AS SELECT v FROM t2")
        .unwrap();
    state
        .write_environment(&environment("prod", 2), Some(1))
        .unwrap();
    state.warehouse().commit().unwrap();
    assert_eq!(
        state.environment("prod").unwrap(),
        Some(environment("prod", 2))
    );
    assert!(
        state
            .warehouse()
            .query("SELECT v FROM shop.orders")
            .unwrap()
            .is_empty()
    );
}

fn release(id: &str, environment: &str, created_at: i64) -> Release {
    Release {
        id: id.to_string(),
        environment: environment.to_string(),
        number: id
            .trim_start_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .unwrap_or(0),
        kind: ReleaseKind::Promotion,
        plan_id: format!("plan-{id}"),
        digest: Some(format!("sha256:{id}")),
        previous_release: None,
        base_release: None,
        previous: vec![],
        snapshots: vec![],
        restored_release: None,
        audits: vec![],
        approvals: vec![Approval {
            user: "alice@example.com".to_string(),
            at: created_at,
            digest: format!("sha256:{id}"),
            groups: vec![],
            comment: None,
        }],
        statements: Default::default(),
        request_id: None,
        created_by: "bob@example.com".to_string(),
        created_at,
    }
}

fn releases_are_listed_newest_first(f: &mut Fixture) {
    let mut state = f.state();
    // Same second: insertion order decides.
    for id in ["r1", "r2", "r3"] {
        state
            .insert_release(&release(id, "prod", 1_700_000_000))
            .unwrap();
    }
    state
        .insert_release(&release("d1", "dev", 1_700_000_000))
        .unwrap();
    // Releases are immutable evidence: inserting an existing id again is an error.
    state
        .insert_release(&release("r2", "prod", 1_800_000_000))
        .expect_err("a release id is never reused");

    let ids: Vec<String> = state
        .releases("prod")
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["r3", "r2", "r1"]);
    assert_eq!(
        state.release("r2").unwrap(),
        Some(release("r2", "prod", 1_700_000_000))
    );
    assert_eq!(state.release("nope").unwrap(), None);
    assert!(state.releases("staging").unwrap().is_empty());
}

#[cfg(feature = "duckdb")]
#[test]
fn bad_urls_are_explained() {
    for url in ["mysql://localhost/db", "duckdb:", "warehouse.duckdb"] {
        let error = warehouse::connect(url).err().expect("an error");
        assert!(
            matches!(error, WarehouseError::Url { .. }),
            "{url}: {error:?}"
        );
        assert!(error.to_string().contains("duckdb:PATH"), "{error}");
    }
}

#[cfg(feature = "postgres")]
#[test]
fn unreachable_postgres_is_explained() {
    // Port 1 on loopback: nothing listens there, so the refusal is immediate.
    let error = warehouse::connect("postgresql://me:secret@127.0.0.1:1/db")
        .err()
        .expect("an error");
    let message = error.to_string();
    assert!(matches!(error, WarehouseError::Connect { .. }), "{error:?}");
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(message.to_lowercase().contains("refused"), "{message}");
    assert!(
        !message.contains("secret"),
        "the password leaked: {message}"
    );
}

#[cfg(feature = "duckdb")]
mod duckdb_only {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    use sluice_warehouse::warehouse;

    const HOLD_LOCK: &str = "SLUICE_TEST_HOLD_DUCKDB_LOCK";

    #[test]
    fn in_memory_databases_work() {
        let mut wh = warehouse::connect("duckdb::memory:").unwrap();
        assert_eq!(
            wh.query("SELECT 1 + 1").unwrap(),
            vec![vec![Some("2".to_string())]]
        );
    }

    /// Not a test on its own: the child process of `a_locked_file_is_explained`, holding the
    /// DuckDB file open until its stdin closes.
    #[test]
    #[ignore]
    fn lock_holder() {
        let Ok(path) = std::env::var(HOLD_LOCK) else {
            return;
        };
        let mut wh = warehouse::connect(&format!("duckdb:{path}")).unwrap();
        wh.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
            .unwrap();
        println!("locked");
        std::io::stdout().flush().unwrap();
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).unwrap_or(0) > 0 {}
    }

    #[test]
    fn a_locked_file_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.duckdb");
        let mut holder = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "duckdb_only::lock_holder",
                "--ignored",
                "--nocapture",
            ])
            .env(HOLD_LOCK, &path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
        assert!(
            lines.any(|line| line.is_ok_and(|l| l.trim() == "locked")),
            "the lock holder did not start"
        );

        let error = warehouse::connect(&format!("duckdb:{}", path.display())).err();
        drop(holder.stdin.take());
        holder.wait().unwrap();
        let message = error.expect("opening a locked file fails").to_string();
        assert!(
            message.contains(&format!(
                "warehouse file {} is in use by another process (is another sluice apply running?)",
                path.display()
            )),
            "{message}"
        );

        // Once the other process is gone, the file opens again.
        let mut wh = warehouse::connect(&format!("duckdb:{}", path.display())).unwrap();
        assert!(wh.query("SELECT x FROM t").unwrap().is_empty());
    }
}

/// TLS as libpq configures it: `sslmode` and `sslrootcert` in the URL.
#[cfg(feature = "postgres")]
#[test]
fn postgres_connections_use_tls_as_the_url_says() {
    let (url, ca) = support::start_tls_server();
    let ssl_in_use = |url: &str| -> Result<String, String> {
        let mut wh = warehouse::connect(url).map_err(|e| e.to_string())?;
        let rows = wh
            .query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .map_err(|e| e.to_string())?;
        Ok(rows[0][0].clone().unwrap_or_default())
    };
    // libpq's default, prefer, encrypts when the server offers it.
    assert_eq!(ssl_in_use(&url).unwrap(), "t");
    assert_eq!(ssl_in_use(&format!("{url}?sslmode=disable")).unwrap(), "f");
    assert_eq!(ssl_in_use(&format!("{url}?sslmode=require")).unwrap(), "t");
    let ca = ca.display();
    let localhost = url.replace("127.0.0.1", "localhost");
    assert_eq!(
        ssl_in_use(&format!("{localhost}?sslmode=verify-full&sslrootcert={ca}")).unwrap(),
        "t"
    );
    assert_eq!(
        ssl_in_use(&format!("{url}?sslmode=verify-ca&sslrootcert={ca}")).unwrap(),
        "t"
    );
    // A certificate not signed by the given root is refused.
    let (_, other_ca) = support::start_tls_server();
    let error = ssl_in_use(&format!(
        "{url}?sslmode=verify-full&sslrootcert={}",
        other_ca.display()
    ))
    .unwrap_err();
    assert!(error.contains("cannot connect"), "{error}");
    let error = ssl_in_use(&format!("{url}?sslmode=sometimes")).unwrap_err();
    assert!(error.contains("sslmode=sometimes"), "{error}");
}
