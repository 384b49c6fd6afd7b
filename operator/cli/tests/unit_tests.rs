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
