//! A warehouse whose Sluice state lives on a connection of its own: data in DuckDB, state in
//! PostgreSQL.
#![cfg(all(feature = "duckdb", feature = "postgres"))]

#[path = "../../cli/tests/support/mod.rs"]
mod support;

use sluice_engine::intervals::Interval;
use sluice_warehouse::state::StateStore;
use sluice_warehouse::warehouse::{self, Warehouse, connect_with_state};

struct Apart {
    data_url: String,
    state_url: String,
    _dir: tempfile::TempDir,
}

impl Apart {
    fn new() -> Apart {
        let dir = tempfile::tempdir().unwrap();
        Apart {
            data_url: format!("duckdb:{}", dir.path().join("data.duckdb").display()),
            state_url: support::postgres_url(),
            _dir: dir,
        }
    }

    fn open(&self) -> Box<dyn Warehouse> {
        connect_with_state(&self.data_url, Some(&self.state_url)).unwrap()
    }

    fn has_sluice_schema(wh: &mut dyn Warehouse) -> bool {
        !wh.query(
            "SELECT table_name FROM information_schema.tables \
             WHERE table_schema = 'sluice' AND table_name = 'environments'",
        )
        .unwrap()
        .is_empty()
    }
}

#[test]
fn state_goes_to_the_state_connection_and_data_to_the_warehouse() {
    let apart = Apart::new();
    let mut wh = apart.open();
    StateStore::new(wh.as_mut()).init().unwrap();
    wh.execute("CREATE SCHEMA mart; CREATE TABLE mart.t AS SELECT 1 AS x")
        .unwrap();
    StateStore::new(wh.as_mut())
        .add_interval("mart.t", "v1", Interval { start: 0, end: 10 })
        .unwrap();
    drop(wh);

    let mut data = warehouse::connect(&apart.data_url).unwrap();
    assert!(
        !Apart::has_sluice_schema(data.as_mut()),
        "no state in the data"
    );
    assert_eq!(
        data.query("SELECT x FROM mart.t").unwrap(),
        vec![vec![Some("1".to_string())]]
    );
    drop(data);
    let mut state = warehouse::connect(&apart.state_url).unwrap();
    assert!(Apart::has_sluice_schema(state.as_mut()));
    assert_eq!(
        StateStore::new(state.as_mut())
            .intervals("mart.t", "v1")
            .unwrap(),
        vec![Interval { start: 0, end: 10 }]
    );
    assert!(
        state.query("SELECT x FROM mart.t").is_err(),
        "no data in the state"
    );
}

#[test]
fn a_transaction_spans_both_connections() {
    let apart = Apart::new();
    let mut wh = apart.open();
    StateStore::new(wh.as_mut()).init().unwrap();
    wh.execute("CREATE SCHEMA mart").unwrap();

    // Rolled back: neither the view nor the interval is there.
    wh.begin().unwrap();
    wh.execute("CREATE VIEW mart.v AS SELECT 1 AS x").unwrap();
    StateStore::new(wh.as_mut())
        .add_interval("mart.v", "v1", Interval { start: 0, end: 10 })
        .unwrap();
    wh.rollback().unwrap();
    assert!(wh.query("SELECT * FROM mart.v").is_err());
    assert!(
        StateStore::new(wh.as_mut())
            .intervals("mart.v", "v1")
            .unwrap()
            .is_empty()
    );

    // Committed: both are, and another connection to the state sees the interval only then.
    wh.begin().unwrap();
    wh.execute("CREATE VIEW mart.v AS SELECT 1 AS x").unwrap();
    StateStore::new(wh.as_mut())
        .add_interval("mart.v", "v1", Interval { start: 0, end: 10 })
        .unwrap();
    let mut other = warehouse::connect(&apart.state_url).unwrap();
    assert!(
        StateStore::new(other.as_mut())
            .intervals("mart.v", "v1")
            .unwrap()
            .is_empty(),
        "uncommitted state is not seen"
    );
    wh.commit().unwrap();
    assert_eq!(
        StateStore::new(other.as_mut())
            .intervals("mart.v", "v1")
            .unwrap(),
        vec![Interval { start: 0, end: 10 }]
    );
    assert_eq!(wh.query("SELECT x FROM mart.v").unwrap().len(), 1);
}

#[test]
fn the_same_url_twice_keeps_the_state_with_the_data() {
    let apart = Apart::new();
    let mut wh = connect_with_state(&apart.state_url, Some(&apart.state_url)).unwrap();
    assert!(wh.state_connection().is_none());
    let mut wh = connect_with_state(&apart.data_url, Some("  ")).unwrap();
    assert!(wh.state_connection().is_none());
    let mut wh = apart.open();
    assert!(wh.state_connection().is_some());
}
