//! `sluice test`: SQLMesh-format unit tests run against the warehouse, on DuckDB and
//! PostgreSQL — passing tests, CTE outputs, time variables, and failures that say which rows
//! differ; nothing a test creates is left behind.

mod fixture;
mod support;

use fixture::{Backend, Fixture, model};

fn project(backend: Backend) -> Fixture {
    let orders = model("raw.orders", "kind EXTERNAL", "");
    let daily = model(
        "mart.daily",
        "kind INCREMENTAL_BY_TIME_RANGE (time_column day)",
        "WITH paid AS (SELECT day, amount FROM raw.orders WHERE status = 'paid')\n\
         SELECT day, sum(amount) AS revenue, count(*) AS orders\n\
         FROM paid WHERE day BETWEEN @start_ds AND @end_ds GROUP BY day",
    );
    Fixture::new(
        backend,
        &[
            ("models/raw/orders.sql", &orders),
            ("models/mart/daily.sql", &daily),
        ],
    )
}

const PASSING: &str = r#"
test_daily_revenue:
  model: mart.daily
  inputs:
    raw.orders:
      - {day: 2024-01-01, amount: 10.5, status: paid}
      - {day: 2024-01-01, amount: 4.5, status: paid}
      - {day: 2024-01-01, amount: 99, status: refunded}
      - {day: 2024-01-02, amount: 7, status: paid}
      - {day: 2024-01-03, amount: 1, status: paid}
  outputs:
    ctes:
      paid:
        partial: true
        rows:
          - {amount: 10.5}
          - {amount: 4.5}
          - {amount: 7}
          - {amount: 1}
    query:
      - {day: 2024-01-02, revenue: 7, orders: 1}
      - {day: 2024-01-01, revenue: 15, orders: 2}
  vars:
    start: 2024-01-01
    end: 2024-01-02
"#;

const FAILING: &str = r#"
test_wrong_revenue:
  model: mart.daily
  inputs:
    raw.orders:
      format: csv
      rows: |
        day,amount,status
        2024-01-01,10,paid
  outputs:
    query:
      - {day: 2024-01-01, revenue: 11, orders: 1}
  vars:
    start: 2024-01-01
    end: 2024-01-01
"#;

fn unit_tests(backend: Backend) {
    let f = project(backend);
    f.write("tests/test_daily.yaml", PASSING);
    let out = f.command().arg("test").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("PASS test_daily_revenue (tests/test_daily.yaml): mart.daily"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Ran 1 unit test(s): 1 passed, 0 failed."),
        "{stdout}"
    );

    f.write("tests/test_wrong.yaml", FAILING);
    let out = f.command().arg("test").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "a failing test fails the command: {stdout}"
    );
    assert!(stdout.contains("FAIL test_wrong_revenue"), "{stdout}");
    assert!(
        stdout.contains("expected but not returned (day | orders | revenue):")
            && stdout.contains("2024-01-01 | 1 | 11")
            && stdout.contains("returned but not expected"),
        "the failure says which rows differ: {stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 unit test(s) failed"));

    // A test that misses an input the model reads says so, rather than read real data.
    f.write(
        "tests/test_wrong.yaml",
        "test_no_input:\n  model: mart.daily\n  outputs:\n    query: []\n",
    );
    let out = f
        .command()
        .args(["test", "--match", "no_input"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("mart.daily reads raw.orders, which the test gives no rows for"),
        "{stdout}"
    );

    // Nothing a test made is left in the warehouse.
    let leftovers = f.rows(
        "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'sluice_unit_test'",
    );
    assert_eq!(leftovers, ["0"]);
}

on_both_warehouses!(unit_tests);

/// A test of a model that needs Python is skipped, saying why; a test of a SQL model that
/// only reads a Python model runs, since the test gives that input as rows.
fn tests_around_python(backend: Backend) {
    let f = project(backend);
    f.write(
        "macros/util.py",
        "from sqlmesh import macro\n\n@macro()\ndef mask(evaluator, c):\n    return c\n",
    );
    f.write(
        "models/py/scores.py",
        "from sqlmesh import model\n\n@model(\"py.scores\", columns={\"id\": \"int\"})\ndef execute(context, **kwargs):\n    ...\n",
    );
    f.write(
        "models/mart/masked.sql",
        &model(
            "mart.masked",
            "kind FULL",
            "SELECT @mask(id) AS id FROM raw.orders",
        ),
    );
    f.write(
        "models/mart/top.sql",
        &model(
            "mart.top",
            "kind FULL",
            "SELECT max(id) AS id FROM py.scores",
        ),
    );
    f.write(
        "tests/test_python.yaml",
        "test_masked:\n  model: mart.masked\n  inputs:\n    raw.orders:\n      - {id: 1}\n  \
         outputs:\n    query:\n      - {id: 1}\n\
         test_top:\n  model: mart.top\n  inputs:\n    py.scores:\n      - {id: 1}\n      - {id: 3}\n  \
         outputs:\n    query:\n      - {id: 3}\n",
    );
    let out = f
        .command()
        .args(["test", "--match", "test_"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("SKIP test_masked (tests/test_python.yaml): mart.masked\n    mart.masked calls the Python macro(s) @mask"),
        "{stdout}"
    );
    assert!(stdout.contains("PASS test_top"), "{stdout}");
    assert!(
        stdout.contains("1 passed, 0 failed, 1 skipped (their models are left out)."),
        "{stdout}"
    );
}

on_both_warehouses!(tests_around_python);
