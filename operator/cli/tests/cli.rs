//! The `sluice` binary as a user runs it: JSON output, errors that name the file and line,
//! serialized tasks, the demo.

mod fixture;
mod support;

use std::process::{Command, Output};

use fixture::{Backend, Fixture, add_orders_column, orders_project};

fn sluice(f: &Fixture, args: &[&str]) -> Output {
    f.command()
        .args(args)
        .env("SLUICE_EXECUTION_TIME", "2024-01-04")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn err(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected failure, got: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn project(backend: Backend) -> Fixture {
    orders_project(backend, &[])
}

fn plan_json_has_the_documented_shape(backend: Backend) {
    let f = project(backend);
    ok(&sluice(&f, &["apply", "--yes"]));
    add_orders_column(&f);
    let out = ok(&sluice(&f, &["plan", "dev", "--json"]));
    let plan: serde_json::Value = serde_json::from_str(&out).unwrap();
    let keys: Vec<&String> = plan.as_object().unwrap().keys().collect();
    // `products` and `classifications` came with data products; the first two keys are as
    // documented since the start.
    assert_eq!(
        keys,
        ["changes", "classifications", "environment", "products"]
    );
    assert_eq!(plan["products"], serde_json::json!([]));
    assert_eq!(plan["environment"], "dev");
    let first = &plan["changes"][0];
    let version = first["version"].as_str().unwrap();
    assert_eq!(
        first,
        &serde_json::json!({
            "model": "stg.orders", "change": "directly_modified", "category": "non_breaking",
            "kind": "VIEW", "version": version, "table": format!("sluice__stg.stg__orders__{version}"),
            "backfill": [{"start": "2024-01-01", "end": "2024-01-04"}]
        })
    );
    assert_eq!(plan["changes"][1]["model"], "mart.daily");
    assert_eq!(plan["changes"][1]["category"], "indirect_non_breaking");
    assert_eq!(plan["changes"][1]["backfill"], serde_json::json!([]));
    // The key order is the documented one, not alphabetical.
    let text = out.replace(char::is_whitespace, "");
    assert!(text.starts_with(r#"{"environment":"dev","changes":[{"model":"stg.orders","change":"directly_modified","category""#), "{text}");
}

fn human_plan_and_apply_show_sections_and_progress(backend: Backend) {
    let f = project(backend);
    let out = ok(&sluice(&f, &["apply", "--yes"]));
    assert!(out.contains("Added:"), "{out}");
    assert!(
        out.contains("mart.daily: 2024-01-01 - 2024-01-03 in 2 batches"),
        "{out}"
    );
    assert!(
        out.contains("backfill mart.daily 2024-01-01 - 2024-01-02"),
        "{out}"
    );
    assert!(out.contains("now at release prod-r1"), "{out}");
    let out = ok(&sluice(&f, &["apply", "--yes"]));
    assert!(out.contains("Nothing to apply"), "{out}");
    let out = ok(&sluice(&f, &["releases", "prod"]));
    assert!(
        out.contains("prod-r1") && out.contains("promotion"),
        "{out}"
    );
    let out = ok(&sluice(&f, &["envs"]));
    assert!(out.contains("prod") && out.contains("never"), "{out}");
}

fn bad_input_names_the_file_and_line(backend: Backend) {
    let f = project(backend);
    f.write(
        "models/mart/broken.sql",
        "MODEL (\n  name mart.broken,\n  kind FULL\n);\n\nSELECT id,\nFROM stg.orders WHERE = 1\n",
    );
    let e = err(&sluice(&f, &["plan"]));
    assert!(e.contains("models/mart/broken.sql:7"), "{e}");
    f.write(
        "models/mart/broken.sql",
        "MODEL (\n  name mart.broken,\n  kind SOMETHING\n);\nSELECT 1",
    );
    let e = err(&sluice(&f, &["plan"]));
    assert!(e.contains("models/mart/broken.sql:3"), "{e}");
    f.remove("models/mart/broken.sql");
    let e = err(&sluice(&f, &["plan", "Dev-1"]));
    assert!(e.contains("invalid environment name \"Dev-1\""), "{e}");
    let e = err(&sluice(&f, &["plan", "--start", "last tuesday"]));
    assert!(e.contains("--start") && e.contains("last tuesday"), "{e}");
    let e = err(&sluice(&f, &["apply", "dev"]));
    assert!(e.contains("--yes"), "no terminal to confirm on: {e}");
    let e = err(&sluice(&f, &["rollback", "prod"]));
    assert!(e.contains("does not exist"), "{e}");
}

fn a_serialized_task_runs_in_a_separate_process(backend: Backend) {
    use sluice_warehouse::executor::plan_tasks;
    let f = project(backend);
    let plan = f.plan("prod", "2024-01-04");
    let ws = f.workspace();
    let tasks = plan_tasks(&plan, &ws.project.audits);
    drop(ws);
    for task in &tasks {
        let path = f.root().join("task.json");
        std::fs::write(&path, serde_json::to_string(task).unwrap()).unwrap();
        let out = ok(&sluice(
            &f,
            &["job", "run", "--task", path.to_str().unwrap()],
        ));
        let outcome: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert!(outcome["audits"].is_array(), "{out}");
    }
    // The tasks built and recorded everything: the same plan has nothing left to do.
    assert!(!f.plan("prod", "2024-01-04").has_work());
}

fn kubernetes_style_environments_runs_and_range_errors(backend: Backend) {
    let f = project(backend);
    ok(&sluice(&f, &["apply", "--yes"]));
    let out = ok(&sluice(&f, &["apply", "pr-123", "--yes"]));
    assert!(out.contains("release pr_123-r1"), "{out}");
    assert_eq!(f.rows("SELECT n FROM mart__pr_123.daily"), ["1"]);

    // A scheduled run picks up the days that completed since.
    let run = |at: &str| {
        let mut cmd = f.command();
        cmd.args(["run", "prod"]).env("SLUICE_EXECUTION_TIME", at);
        ok(&cmd.output().unwrap())
    };
    let out = run("2024-01-06");
    assert!(
        out.contains("Ran 1 batch(es) of 1 model(s) in prod"),
        "{out}"
    );
    let out = run("2024-01-06");
    assert!(out.contains("up to date"), "{out}");

    let e = err(&sluice(&f, &["plan", "prod", "--start", "2024-01-02"]));
    assert!(
        e.contains("--start and --end cannot be set for a plan of prod"),
        "{e}"
    );
    let e = err(&sluice(
        &f,
        &[
            "plan",
            "dev",
            "--start",
            "2024-01-03",
            "--end",
            "2024-01-01",
        ],
    ));
    assert!(e.contains("must be after the plan start"), "{e}");
    let e = err(&sluice(&f, &["plan", "pr--1"]));
    assert!(e.contains("invalid environment name \"pr--1\""), "{e}");
}

on_both_warehouses!(
    kubernetes_style_environments_runs_and_range_errors,
    plan_json_has_the_documented_shape,
    human_plan_and_apply_show_sections_and_progress,
    bad_input_names_the_file_and_line,
    a_serialized_task_runs_in_a_separate_process,
);

#[cfg(feature = "duckdb")]
#[test]
fn the_demo_tells_the_whole_story() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["demo", "--dir", dir.path().join("shop").to_str().unwrap()])
        .output()
        .unwrap();
    let text = ok(&out);
    for expected in [
        "Environment prod is now at release prod-r1.",
        "stg.orders (Non-breaking)",
        "mart.daily_revenue (Indirect Non-breaking)",
        "mart.daily_revenue (Breaking)",
        "Environment dev is now at release dev-r1.",
        "Environment prod is now at release prod-r2.",
        "Rolled back prod to the tables of prod-r1",
        "revenue — MEANING CHANGE: needs an approval from an owner (users fiona; groups finance-data)",
        "Release prod-r2 of prod",
        "freshness kept: mart.daily_revenue is 0s behind (promise: 26h)",
        "policy/pii [not enforced locally]",
        "prod | prod-r2",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn a_wrong_project_directory_is_refused_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(args)
            .output()
            .unwrap()
    };
    let missing = dir.path().join("nope");
    let e = err(&run(&["plan", "--project", missing.to_str().unwrap()]));
    assert!(
        e.contains("nope: the project directory does not exist"),
        "{e}"
    );
    let e = err(&run(&[
        "releases",
        "--project",
        dir.path().to_str().unwrap(),
    ]));
    assert!(e.contains("no warehouse to read"), "{e}");
    assert!(
        !dir.path().join(".sluice").exists(),
        "no warehouse file was created"
    );
}

/// Thirty broken files, three kinds of mistake: one `sluice plan` names all thirty.
fn every_problem_is_reported_in_one_run(backend: Backend) {
    let f = Fixture::new(backend, &[]);
    for i in 0..10 {
        f.write(
            &format!("models/a{i}.sql"),
            &format!("MODEL (name s.a{i}, kind FULL, bogus_property 1);\nSELECT 1 AS x\n"),
        );
        f.write(
            &format!("models/b{i}.sql"),
            &format!("MODEL (name s.b{i}, kind FULL);\nSELECT FROM WHERE\n"),
        );
        f.write(
            &format!("models/c{i}.sql"),
            &format!("MODEL (name s.c{i}, kind FULL, start 'soon');\nSELECT 1 AS x\n"),
        );
    }
    let stderr = err(&sluice(&f, &["plan"]));
    let problems: Vec<&str> = stderr.lines().filter(|l| l.contains("models/")).collect();
    assert_eq!(problems.len(), 30, "{stderr}");
    for i in 0..10 {
        assert!(stderr.contains(&format!("models/a{i}.sql:1:")), "{stderr}");
        assert!(stderr.contains(&format!("models/b{i}.sql:2:")), "{stderr}");
        assert!(stderr.contains(&format!("models/c{i}.sql:1:")), "{stderr}");
    }
}

on_both_warehouses!(every_problem_is_reported_in_one_run);
