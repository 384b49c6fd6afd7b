//! Promotion is atomic: a reader never sees a mix of old and new views, and a promotion killed
//! midway leaves the old environment intact and a rerun converges. On DuckDB and PostgreSQL.

mod fixture;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use fixture::{Backend, Fixture, model};
use sluice_warehouse::promote::rollback;
use sluice_warehouse::state::StateStore;
use sluice_warehouse::warehouse::Warehouse;

const MODELS: usize = 12;

/// Twelve models, each a one-row table holding `marker`.
fn write_models(f: &Fixture, marker: &str) {
    for i in 0..MODELS {
        let name = format!("s.m{i:02}");
        f.write(
            &format!("models/m{i:02}.sql"),
            &model(&name, "kind FULL", &format!("SELECT '{marker}' AS release")),
        );
    }
}

/// One statement reading every view: a consistent snapshot of the environment.
fn sample_sql() -> String {
    let columns: Vec<String> = (0..MODELS)
        .map(|i| format!("(SELECT release FROM s.m{i:02})"))
        .collect();
    format!("SELECT {}", columns.join(", "))
}

/// Two connections to the same database: one promotes, one reads.
fn connections(f: &Fixture, backend: Backend) -> (Box<dyn Warehouse>, Box<dyn Warehouse>) {
    match backend {
        #[cfg(feature = "duckdb")]
        Backend::Duckdb | Backend::DuckdbStateApart => {
            // One DuckDB instance per process: the reader is a second connection to it.
            let path = f.url.strip_prefix("duckdb:").unwrap();
            let writer = sluice_warehouse::warehouse::duckdb::DuckdbWarehouse::open(
                std::path::Path::new(path),
            )
            .unwrap();
            let reader = writer.try_clone().unwrap();
            let writer: Box<dyn Warehouse> = match &f.state {
                Some(state) => Box::new(sluice_warehouse::warehouse::StateApart::new(
                    Box::new(writer),
                    sluice_warehouse::warehouse::connect(state).unwrap(),
                )),
                None => Box::new(writer),
            };
            (writer, Box::new(reader))
        }
        #[cfg(not(feature = "duckdb"))]
        Backend::Duckdb | Backend::DuckdbStateApart => unreachable!("built without DuckDB"),
        Backend::Postgres => (f.warehouse(), f.warehouse()),
    }
}

fn concurrent_reader_never_sees_a_mixed_environment(backend: Backend) {
    let f = Fixture::new(backend, &[]);
    write_models(&f, "A");
    f.apply("prod", "2024-01-02");
    write_models(&f, "B");
    f.apply("prod", "2024-01-02");

    let (mut writer, mut reader) = connections(&f, backend);
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    let sampler = std::thread::spawn(move || {
        let sql = sample_sql();
        let (mut samples, mut mixed, mut seen) = (0, 0, std::collections::BTreeSet::new());
        while !stop.load(Ordering::Relaxed) || samples < 50 {
            let rows = reader
                .query(&sql)
                .unwrap_or_else(|e| panic!("reader failed mid-promotion: {e}"));
            let values: std::collections::BTreeSet<String> = rows[0]
                .iter()
                .map(|v| v.clone().unwrap_or_default())
                .collect();
            if values.len() != 1 {
                mixed += 1;
            }
            seen.extend(values);
            samples += 1;
        }
        (samples, mixed, seen)
    });
    // Alternate between the two releases' tables, as fast as possible.
    for i in 0..40 {
        let to = if i % 2 == 0 { "prod-r1" } else { "prod-r2" };
        rollback(writer.as_mut(), "prod", Some(to), fixture::tester(0)).unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let (samples, mixed, seen) = sampler.join().unwrap();
    assert_eq!(
        mixed, 0,
        "{mixed} of {samples} samples saw a mix of old and new views"
    );
    assert!(samples >= 50, "the reader sampled {samples} times");
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["A", "B"],
        "the reader saw both releases"
    );
    let env = StateStore::new(writer.as_mut())
        .environment("prod")
        .unwrap()
        .unwrap();
    assert_eq!(env.revision, 42);
}

fn sluice(f: &Fixture, failpoint: Option<&str>) -> std::process::Output {
    let mut cmd = f.command();
    cmd.args(["apply", "prod", "--yes", "--execution-time", "2024-01-02"]);
    if let Some(point) = failpoint {
        cmd.env("SLUICE_FAILPOINT", point);
    }
    cmd.output().unwrap()
}

fn markers(f: &Fixture) -> Vec<String> {
    f.rows(&sample_sql())[0]
        .split('|')
        .map(String::from)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn killed_promotion_leaves_the_old_environment_and_a_rerun_converges(backend: Backend) {
    let f = Fixture::new(backend, &[]);
    write_models(&f, "A");
    f.apply("prod", "2024-01-02");
    write_models(&f, "B");

    // Crash in the middle of the backfill, then in the middle of the view swaps, then after
    // the state records are written but before commit.
    for point in ["backfill-midway", "promote-midway", "promote-before-commit"] {
        let out = sluice(&f, Some(point));
        assert!(
            !out.status.success(),
            "{point}: the process should have died"
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("failpoint {point}")));
        assert_eq!(
            markers(&f),
            ["A"],
            "after a crash at {point} prod still serves the old release"
        );
        let mut wh = f.warehouse();
        let env = StateStore::new(wh.as_mut())
            .environment("prod")
            .unwrap()
            .unwrap();
        assert_eq!(env.release_id.as_deref(), Some("prod-r1"), "{point}");
    }

    let out = sluice(&f, None);
    assert!(
        out.status.success(),
        "rerun: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(markers(&f), ["B"]);
    let mut wh = f.warehouse();
    let env = StateStore::new(wh.as_mut())
        .environment("prod")
        .unwrap()
        .unwrap();
    assert_eq!(env.release_id.as_deref(), Some("prod-r2"));
    // Converged: nothing left to do.
    assert!(!f.plan("prod", "2024-01-02").has_work());
}

on_both_warehouses!(
    concurrent_reader_never_sees_a_mixed_environment,
    killed_promotion_leaves_the_old_environment_and_a_rerun_converges,
);
