//! The same generated project on PostgreSQL and on Apache Spark (Spark Connect, state in
//! PostgreSQL): what a team moving to Spark trades. For each warehouse, whole `sluice`
//! processes are timed:
//!
//! - plan: `sluice plan prod --json` before the first build;
//! - first apply: `sluice apply prod --yes` (every table built, every view made);
//! - backfill throughput: one INCREMENTAL_BY_TIME_RANGE model of `SLUICE_BENCH_DAYS` daily
//!   batches of `SLUICE_BENCH_ROWS` rows each, rebuilt by a breaking change: batches and rows
//!   per second;
//! - the flip: a breaking change of the root model (every view moves), its duration and, on
//!   Spark, the window in which a reader could see views of both releases (from the release's
//!   evidence: `consistency.mixed_window_ms`).
//!
//! Run with `make bench-warehouses` (release build; starts PostgreSQL and Spark).
//! `SLUICE_BENCH_MODELS` (default 60) sets the FULL models, in layers of 20.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const LAYER: usize = 20;

#[derive(Clone, Copy, PartialEq)]
enum Warehouse {
    Postgres,
    Spark,
}

impl Warehouse {
    fn name(self) -> &'static str {
        match self {
            Warehouse::Postgres => "PostgreSQL",
            Warehouse::Spark => "Spark (local[2])",
        }
    }

    fn dialect(self) -> &'static str {
        match self {
            Warehouse::Postgres => "postgres",
            Warehouse::Spark => "spark",
        }
    }

    /// `rows` numbered rows, in the warehouse's own SQL.
    fn numbers(self, rows: usize) -> String {
        match self {
            Warehouse::Postgres => format!("SELECT g AS n FROM generate_series(1, {rows}) AS g"),
            Warehouse::Spark => format!("SELECT id AS n FROM range(1, {} + 1)", rows),
        }
    }
}

struct Settings {
    models: usize,
    days: usize,
    rows: usize,
}

/// Layered FULL models (the root's expression is `marker`) and one daily incremental model.
fn generate(root: &Path, wh: Warehouse, s: &Settings, marker: &str) {
    std::fs::create_dir_all(root.join("models")).unwrap();
    std::fs::write(
        root.join("config.yaml"),
        format!(
            "model_defaults:\n  dialect: {}\n  start: '2024-01-01'\n  cron: '@daily'\n",
            wh.dialect()
        ),
    )
    .unwrap();
    for n in 0..s.models {
        let (layer, i) = (n / LAYER, n % LAYER);
        let query = if n == 0 {
            format!(
                "SELECT n AS id, n * {marker} AS v FROM ({}) AS t",
                wh.numbers(3)
            )
        } else if layer == 0 {
            format!("SELECT n AS id, n * {i} AS v FROM ({}) AS t", wh.numbers(3))
        } else {
            let (a, b) = (i, (i * 7 + 3) % LAYER);
            format!(
                "SELECT a.id, (a.v + b.v) % 1000 AS v FROM l{p}.m{a} AS a \
                 JOIN l{p}.m{b} AS b ON a.id = b.id",
                p = layer - 1
            )
        };
        write_model(root, &format!("l{layer}.m{i}"), "kind FULL", &query);
    }
    let daily = format!(
        "SELECT n AS id, CAST(@start_ds AS DATE) AS ds, (n * {marker}) % 97 AS amount \
         FROM ({}) AS t",
        wh.numbers(s.rows)
    );
    write_model(
        root,
        "facts.daily",
        "kind INCREMENTAL_BY_TIME_RANGE (time_column ds, batch_size 1)",
        &daily,
    );
}

fn write_model(root: &Path, name: &str, kind: &str, query: &str) {
    let path = root.join("models").join(format!("{name}.sql"));
    std::fs::write(
        path,
        format!("MODEL (\n  name {name},\n  {kind}\n);\n\n{query}\n"),
    )
    .unwrap();
}

fn sluice(root: &Path, urls: &[String], args: &[&str], now: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.arg("--project")
        .arg(root)
        .args(["--warehouse", &urls[0]]);
    if let Some(state) = urls.get(1) {
        cmd.args(["--state", state]);
    }
    cmd.args(args).args(["--execution-time", now]);
    cmd
}

/// Runs to success; returns the wall time and standard error.
fn timed(mut cmd: Command) -> (Duration, String) {
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{cmd:?} failed:\n{stderr}");
    (elapsed, stderr)
}

/// The flip's own duration from the CLI's line, `flipped in N ms`.
fn flip_ms(stderr: &str) -> Option<u64> {
    let rest = stderr.split("flipped in ").nth(1)?;
    rest.split(' ').next()?.parse().ok()
}

/// The latest prod release's evidence `consistency` (level, mixed window in ms).
fn consistency(state_url: &str) -> (String, Option<u64>) {
    let mut state = sluice_warehouse::warehouse::connect(state_url).unwrap();
    let rows = state
        .query(
            "SELECT record FROM sluice.evidence WHERE environment = 'prod' \
             ORDER BY release_id DESC LIMIT 1",
        )
        .unwrap();
    let text = rows[0][0].clone().unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let c = &json["consistency"];
    (
        c["level"].as_str().unwrap_or("?").to_string(),
        c["mixed_window_ms"].as_u64(),
    )
}

fn secs(d: Duration) -> String {
    match d.as_secs() {
        0..10 => format!("{:.2} s", d.as_secs_f64()),
        _ => format!("{:.1} s", d.as_secs_f64()),
    }
}

fn run(wh: Warehouse, urls: &[String], s: &Settings) -> String {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    generate(root, wh, s, "1");
    let end = format!("2024-01-{:02}", s.days + 1);
    let (plan, _) = timed(sluice(root, urls, &["plan", "prod", "--json"], &end));
    let (apply, _) = timed(sluice(root, urls, &["apply", "prod", "--yes"], &end));

    // A breaking change of the root model and of the daily model: every view moves and
    // every day is built again.
    generate(root, wh, s, "2");
    let (second, stderr) = timed(sluice(root, urls, &["apply", "prod", "--yes"], &end));
    let flip = flip_ms(&stderr);
    let state_url = urls.get(1).unwrap_or(&urls[0]);
    let (level, window) = consistency(state_url);

    // The daily model alone, restated: its batches are the throughput.
    let (restate, _) = timed(sluice(
        root,
        urls,
        &[
            "apply",
            "prod",
            "--yes",
            "--restate",
            "facts.daily",
            "--start",
            "2024-01-01",
            "--end",
            &end,
        ],
        &end,
    ));
    let batches = s.days as f64 / restate.as_secs_f64();
    let rows = (s.days * s.rows) as f64 / restate.as_secs_f64() / 1000.0;
    format!(
        "| {} | {} | {} | {} | {} | {:.1} batches/s, {:.0}k rows/s | {} | {} | {} |",
        wh.name(),
        secs(plan),
        secs(apply),
        secs(second),
        secs(restate),
        batches,
        rows,
        flip.map_or("–".into(), |ms| format!("{ms} ms")),
        level,
        window.map_or("–".into(), |ms| format!("{ms} ms")),
    )
}

fn main() {
    let setting = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let s = Settings {
        models: setting("SLUICE_BENCH_MODELS", 60).max(1),
        days: setting("SLUICE_BENCH_DAYS", 10).clamp(1, 28),
        rows: setting("SLUICE_BENCH_ROWS", 100_000).max(1),
    };
    let postgres = std::env::var("SLUICE_TEST_POSTGRES_URL")
        .expect("SLUICE_TEST_POSTGRES_URL (run under scripts/with-postgres)");
    let spark = std::env::var("SLUICE_TEST_SPARK_URL")
        .expect("SLUICE_TEST_SPARK_URL (run under scripts/with-spark)");
    println!(
        "sluice warehouse benchmark: {} layered FULL models ({LAYER} per layer) and one daily \
         incremental model of {} days x {} rows; whole sluice processes, wall time",
        s.models, s.days, s.rows
    );
    let database = |name: &str| {
        let mut admin = sluice_warehouse::warehouse::connect(&postgres).unwrap();
        admin
            .execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap();
        admin.execute(&format!("CREATE DATABASE {name}")).unwrap();
        match postgres.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("unexpected PostgreSQL URL {postgres}"),
        }
    };
    let pg = vec![database("sluice_bench_pg")];
    let on_spark = vec![spark, database("sluice_bench_spark_state")];
    println!(
        "\n| warehouse | plan | first apply | breaking change (rebuild + flip) | restatement | \
         backfill throughput | flip | consistency | mixed window |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|---:|");
    println!("{}", run(Warehouse::Postgres, &pg, &s));
    println!("{}", run(Warehouse::Spark, &on_spark, &s));
}
