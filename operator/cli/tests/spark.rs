//! The engine's story on Apache Spark (Spark Connect), data on Spark and Sluice's state on
//! PostgreSQL: apply, a dev environment apart from prod, forward-only, restatement, promotion,
//! rollback, the janitor, and a flip killed between two view swaps.
//!
//! Needs a Spark Connect server: `scripts/with-spark` starts one and sets
//! SLUICE_TEST_SPARK_URL (`make test` does). Without it these tests say so and pass, except
//! under CI, where a missing server fails them.
#![cfg(all(feature = "spark", feature = "postgres"))]

mod fixture;
mod support;

use std::sync::{Mutex, MutexGuard};

use fixture::{Fixture, model, t, tester};
use sluice_warehouse::janitor::janitor;
use sluice_warehouse::promote::rollback;
use sluice_warehouse::state::StateStore;
use sluice_warehouse::warehouse;

/// One Spark server serves every test, and schema names are global in its catalog: the tests
/// take turns, each starting from an empty catalog.
static SPARK: Mutex<()> = Mutex::new(());

struct SparkFixture {
    f: Fixture,
    _turn: MutexGuard<'static, ()>,
}

/// A project in the Spark dialect on the test server, or `None` (and a note) without one.
fn spark_fixture(files: &[(&str, &str)]) -> Option<SparkFixture> {
    let url = match std::env::var("SLUICE_TEST_SPARK_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ if std::env::var_os("CI").is_some() => {
            panic!("SLUICE_TEST_SPARK_URL is not set: run the tests under scripts/with-spark")
        }
        _ => {
            eprintln!("SLUICE_TEST_SPARK_URL is not set: Spark tests not run (scripts/with-spark)");
            return None;
        }
    };
    let turn = SPARK.lock().unwrap_or_else(|e| e.into_inner());
    let mut spark = warehouse::connect(&url).unwrap_or_else(|e| panic!("{e}"));
    for row in spark.query("SHOW DATABASES").unwrap() {
        let name = row[0].clone().unwrap();
        if name != "default" {
            spark
                .execute(&format!("DROP DATABASE IF EXISTS `{name}` CASCADE"))
                .unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture {
        dir,
        url,
        state: Some(support::postgres_url()),
    };
    f.write(
        "config.yaml",
        "model_defaults:\n  dialect: spark\n  start: '2024-01-01'\n  cron: '@daily'\n",
    );
    for (path, content) in files {
        f.write(path, content);
    }
    Some(SparkFixture { f, _turn: turn })
}

/// Seed rows; the first name has the characters Spark's strings escape.
const ITEMS: &str = "id,name,price\n1,o'apple \\ x,10\n2,pear,20\n3,plum,30\n";

fn events(extra: &str) -> String {
    model(
        "shop.events",
        "kind INCREMENTAL_BY_TIME_RANGE (time_column ds, batch_size 1)",
        &format!(
            "SELECT id, CAST(@start_ds AS DATE) AS ds, price * 10 AS amount{extra}\n\
             FROM raw.fruit"
        ),
    )
}

fn totals(extra: &str) -> String {
    model(
        "shop.totals",
        "kind FULL",
        &format!("SELECT ds, SUM(amount) AS total{extra} FROM shop.events GROUP BY ds"),
    )
}

fn project() -> Vec<(&'static str, String)> {
    vec![
        (
            "models/items.sql",
            model("shop.items", "kind SEED (path 'items.csv')", ""),
        ),
        ("models/items.csv", ITEMS.to_string()),
        ("models/fruit.sql", model("raw.fruit", "kind EXTERNAL", "")),
        ("models/events.sql", events("")),
        ("models/totals.sql", totals("")),
        (
            "models/latest.sql",
            model(
                "shop.latest",
                "kind VIEW",
                "SELECT * FROM shop.totals WHERE ds = (SELECT MAX(ds) FROM shop.totals)",
            ),
        ),
    ]
}

/// The project, with its external table `raw.fruit` (three rows) created on Spark.
fn with_project() -> Option<SparkFixture> {
    let files = project();
    let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
    let s = spark_fixture(&files)?;
    s.f.warehouse()
        .execute(
            "CREATE DATABASE raw; \
             CREATE TABLE raw.fruit USING parquet AS \
             SELECT * FROM VALUES (1, 10), (2, 20), (3, 30) AS v(id, price)",
        )
        .unwrap();
    Some(s)
}

fn count(f: &Fixture, relation: &str) -> String {
    f.rows(&format!("SELECT COUNT(*) FROM {relation}"))[0].clone()
}

/// The physical table behind `model` in `release`, quoted.
fn table_of(release: &sluice_engine::snapshot::Release, model: &str) -> String {
    let r = release.snapshots.iter().find(|r| r.name == model).unwrap();
    r.table().quoted()
}

fn columns(f: &Fixture, relation: &str) -> Vec<String> {
    f.rows(&format!("DESCRIBE TABLE {relation}"))
        .into_iter()
        .map(|r| r.split('|').next().unwrap().to_string())
        .take_while(|c| !c.is_empty() && !c.starts_with('#'))
        .collect()
}

#[test]
fn apply_dev_forward_only_restatement_promotion_rollback_and_janitor_on_spark() {
    let Some(s) = with_project() else { return };
    let f = &s.f;

    // Prod, three days: the seed, a day-partitioned incremental table, a FULL table, a view.
    let first = f.apply("prod", "2024-01-04");
    assert_eq!(first.id, "prod-r1");
    assert_eq!(count(f, "shop.items"), "3");
    assert_eq!(
        f.rows("SELECT name FROM shop.items WHERE id = 1"),
        ["o'apple \\ x"],
        "a seed value keeps its quote and backslash"
    );
    assert_eq!(count(f, "shop.events"), "9");
    assert_eq!(
        f.rows("SELECT ds, total FROM shop.totals ORDER BY ds"),
        ["2024-01-01|600", "2024-01-02|600", "2024-01-03|600"]
    );
    assert_eq!(f.rows("SELECT ds FROM shop.latest"), ["2024-01-03"]);
    let events_table = table_of(&first, "shop.events");
    assert_eq!(
        f.rows(&format!("SHOW PARTITIONS {events_table}")).len(),
        3,
        "one partition per day"
    );
    // The evidence says how readers saw the flip; lineage reads the views' columns.
    let mut wh = f.warehouse();
    let text = StateStore::new(wh.as_mut())
        .evidence(&first.id)
        .unwrap()
        .unwrap();
    let evidence = sluice_engine::evidence::decode(&text).unwrap();
    let consistency = evidence.consistency.clone().unwrap();
    assert_eq!(consistency.level, "per view");
    assert!(consistency.mixed_window_ms.is_some());
    let lineage = sluice_warehouse::lineage::view_columns(wh.as_mut(), &evidence).unwrap();
    let totals_columns: Vec<&str> = lineage["shop.totals"]
        .iter()
        .map(|(c, _)| c.as_str())
        .collect();
    assert_eq!(totals_columns, ["ds", "total"]);
    drop(wh);

    // A scheduled run the next day adds exactly one partition; rerunning changes nothing.
    for _ in 0..2 {
        let out = f
            .command()
            .args(["run", "prod", "--execution-time", "2024-01-05"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(count(f, "shop.events"), "12");
    assert_eq!(f.rows(&format!("SHOW PARTITIONS {events_table}")).len(), 4);

    // A breaking change in dev: dev sees it, prod does not.
    f.write("models/totals.sql", &totals(", COUNT(*) AS n"));
    f.apply("dev", "2024-01-05");
    assert_eq!(columns(f, "shop__dev.totals"), ["ds", "total", "n"]);
    assert_eq!(columns(f, "shop.totals"), ["ds", "total"]);
    assert_eq!(count(f, "shop__dev.latest"), "1");

    // A restatement recomputes the days asked for, replacing their partitions: a row added
    // to the source shows in those days only.
    f.warehouse()
        .execute("INSERT INTO raw.fruit VALUES (4, 40)")
        .unwrap();
    let restated = f.plan_with("prod", "2024-01-05", |o| {
        o.restate = vec!["shop.events".into()];
        o.start = Some(t("2024-01-03"));
        o.end = Some(t("2024-01-05"));
    });
    f.try_apply_plan(&restated).unwrap();
    assert_eq!(
        f.rows("SELECT ds, COUNT(*) FROM shop.events GROUP BY ds ORDER BY ds"),
        [
            "2024-01-01|3",
            "2024-01-02|3",
            "2024-01-03|4",
            "2024-01-04|4"
        ],
        "restated days have the new row, the others kept theirs"
    );
    // The dev change reached prod with that plan.
    assert_eq!(columns(f, "shop.totals"), ["ds", "total", "n"]);

    // Rollback: prod's views point at the previous release's tables again.
    let mut wh = f.warehouse();
    let back = rollback(wh.as_mut(), "prod", None, tester(t("2024-01-05") / 1000)).unwrap();
    assert!(back.restored_release.is_some());
    assert_eq!(columns(f, "shop.totals"), ["ds", "total"]);
    assert!(
        StateStore::new(wh.as_mut())
            .pending_flip("prod")
            .unwrap()
            .is_none(),
        "a finished flip leaves no record"
    );

    // Forward-only: the table is kept and gains the new column; earlier rows have NULL.
    f.write("models/events.sql", &events(", 'x' AS tag"));
    let forward = f.plan_with("prod", "2024-01-06", |o| o.forward_only = true);
    let release = f.try_apply_plan(&forward).unwrap();
    assert_eq!(
        table_of(&release, "shop.events"),
        events_table,
        "forward-only reuses the table"
    );
    assert_eq!(count(f, "shop.events WHERE tag = 'x'"), "4");
    assert_eq!(count(f, "shop.events WHERE tag IS NULL"), "14");

    // The janitor: dev expired, its tables and anything no kept release needs are dropped;
    // prod still reads.
    let report = janitor(wh.as_mut(), 4_000_000_000, 1, 0).unwrap();
    assert_eq!(report.dropped_environments, ["dev"]);
    assert!(!report.dropped_tables.is_empty(), "{report:?}");
    assert!(report.skipped_tables.is_empty(), "{report:?}");
    assert_eq!(count(f, "shop.latest"), "1");
    assert!(
        !f.rows("SHOW SCHEMAS").contains(&"shop__dev".to_string()),
        "dev's views are gone, and so is their emptied schema"
    );
}

/// A flip killed after moving some views (failpoint between the two view swaps): prod serves
/// a mix until the next attempt, which puts the views back and flips again.
#[test]
fn a_flip_killed_between_view_swaps_is_repaired_by_the_next_attempt() {
    let Some(s) = with_project() else { return };
    let f = &s.f;
    let apply = |failpoint: Option<&str>| {
        let mut cmd = f.command();
        cmd.args(["apply", "prod", "--yes", "--execution-time", "2024-01-03"]);
        if let Some(point) = failpoint {
            cmd.env("SLUICE_FAILPOINT", point);
        }
        cmd.output().unwrap()
    };
    let out = apply(None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every model changes: the flip moves all four views.
    f.write("models/events.sql", &events(", 1 AS v2"));
    f.write("models/totals.sql", &totals(", MAX(v2) AS v2"));

    let out = apply(Some("promote-midway"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("failpoint promote-midway"),
        "the process should have died at the failpoint: {stderr}"
    );
    let mut wh = f.warehouse();
    let pending = StateStore::new(wh.as_mut())
        .pending_flip("prod")
        .unwrap()
        .expect("the interrupted flip is on record");
    assert_ne!(
        pending.old, pending.new,
        "from the first release to the second"
    );
    let env = StateStore::new(wh.as_mut())
        .environment("prod")
        .unwrap()
        .unwrap();
    assert_eq!(
        env.release_id.as_deref(),
        Some("prod-r1"),
        "no release recorded"
    );
    let moved = [("shop.events", "v2"), ("shop.totals", "v2")]
        .iter()
        .filter(|(view, column)| columns(f, view).contains(&column.to_string()))
        .count();
    assert_eq!(
        moved, 1,
        "killed between the two swaps: one view moved, one not"
    );

    let out = apply(None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(columns(f, "shop.events").contains(&"v2".to_string()));
    assert!(columns(f, "shop.totals").contains(&"v2".to_string()));
    assert!(
        StateStore::new(wh.as_mut())
            .pending_flip("prod")
            .unwrap()
            .is_none()
    );
    let env = StateStore::new(wh.as_mut())
        .environment("prod")
        .unwrap()
        .unwrap();
    assert_eq!(env.release_id.as_deref(), Some("prod-r2"));
}

/// What Spark cannot do is refused by name, and a Spark warehouse needs its state elsewhere.
#[test]
fn spark_refusals_say_why() {
    let Some(s) = spark_fixture(&[(
        "models/keyed.sql",
        &model(
            "shop.keyed",
            "kind INCREMENTAL_BY_UNIQUE_KEY (unique_key id)",
            "SELECT 1 AS id",
        ),
    )]) else {
        return;
    };
    let f = &s.f;
    let plan = f.plan("prod", "2024-01-02");
    let err = f.try_apply_plan(&plan).unwrap_err().to_string();
    assert!(
        err.contains("shop.keyed")
            && err.contains("INCREMENTAL_BY_UNIQUE_KEY is not supported on Spark"),
        "{err}"
    );
    // An environment that requires atomic promotion is not flipped on Spark.
    f.write(
        "models/keyed.sql",
        &model("shop.keyed", "kind FULL", "SELECT 1 AS id"),
    );
    let out = f
        .command()
        .args(["apply", "prod", "--yes", "--require-atomic"])
        .args(["--execution-time", "2024-01-02"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("requires atomic promotion"), "{stderr}");
    let mut wh = f.warehouse();
    assert!(
        StateStore::new(wh.as_mut())
            .environment("prod")
            .unwrap()
            .is_none(),
        "nothing was promoted"
    );
    assert!(
        f.rows("SHOW DATABASES LIKE 'shop'").is_empty(),
        "no view was made"
    );
    let err = match warehouse::connect_with_state(&f.url, None) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a Spark warehouse without a state connection was accepted"),
    };
    assert!(err.contains("PostgreSQL database of its own"), "{err}");
}
