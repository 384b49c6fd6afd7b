//! SQLMesh's own example projects, as a user would run them: each copied untouched from the
//! SQLMesh release's source (`scripts/public-projects` fetches it from PyPI and runs this test,
//! which is ignored otherwise), applied with `sluice apply prod` on DuckDB at the time SQLMesh
//! was run at, and every model SQLMesh built either has SQLMesh's row count or is named in
//! Sluice's up-front list of what it leaves out (Python, and what reads it).
//!
//! `public_projects/<name>.json` holds what SQLMesh built (its version, command, time and the
//! row count of each model). Two other public projects small enough and licensed to be kept
//! (`public_projects/kept/`, see its NOTICE) run the same way in every test run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(serde::Deserialize)]
struct Expected {
    sqlmesh_version: String,
    execution_time: String,
    rows: BTreeMap<String, u64>,
}

const PROJECTS: &[&str] = &["ibis", "multi", "sushi", "wursthall"];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The project's own DuckDB file when its config.yaml names one that exists (its raw data),
/// else a new file: the gateway adapted, the models untouched.
fn warehouse_of(project: &Path, scratch: &Path) -> PathBuf {
    let config = std::fs::read_to_string(project.join("config.yaml")).unwrap_or_default();
    let named = config
        .lines()
        .skip_while(|l| !l.contains("type: duckdb"))
        .find_map(|l| l.trim().strip_prefix("database:"))
        .map(|path| project.join(path.trim().trim_matches(['\'', '"'])));
    named
        .filter(|p| p.is_file())
        .unwrap_or_else(|| scratch.join("warehouse.duckdb"))
}

/// Whether `model` is one of the `left out` lines (`model (file): why` or `model: why`).
fn named_in(left_out: &[&str], model: &str) -> bool {
    left_out.iter().any(|l| {
        l.strip_prefix(model)
            .is_some_and(|rest| rest.starts_with([' ', ':']))
    })
}

/// Runs one project of `dir`; returns a line of the report, or why it failed.
fn run(dir: &Path, name: &str) -> Result<String, String> {
    let expected: Expected = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("tests/public_projects/{name}.json")),
        )
        .unwrap(),
    )
    .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let project = scratch.path().join(name);
    copy_dir(&dir.join(name), &project);
    let warehouse = warehouse_of(&project, scratch.path());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--project")
        .arg(&project)
        .arg("--warehouse")
        .arg(format!("duckdb:{}", warehouse.display()))
        .args(["apply", "prod", "--yes", "--execution-time"])
        .arg(&expected.execution_time)
        .output()
        .unwrap();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(format!("{name}: sluice apply failed:\n{output}"));
    }
    let left_out: Vec<&str> = output
        .lines()
        .filter_map(|l| l.strip_prefix("Warning: left out "))
        .collect();
    let mut db = sluice_warehouse::warehouse::connect(&format!("duckdb:{}", warehouse.display()))
        .map_err(|e| e.to_string())?;
    let (mut equal, mut named, mut wrong) = (0, 0, Vec::new());
    for (model, rows) in &expected.rows {
        match db.query(&format!("SELECT COUNT(*) FROM {model}")) {
            Ok(found) if found[0][0].as_deref() == Some(rows.to_string().as_str()) => equal += 1,
            Ok(found) => wrong.push(format!(
                "{model}: {} rows, SQLMesh {rows}",
                found[0][0].clone().unwrap_or_default()
            )),
            Err(_) if named_in(&left_out, model) => named += 1,
            Err(e) => wrong.push(format!(
                "{model}: neither built nor named as left out ({e})"
            )),
        }
    }
    // Its unit tests (those whose models Sluice runs) pass.
    let tests = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--project")
        .arg(&project)
        .args(["--warehouse", "duckdb::memory:", "test"])
        .output()
        .unwrap();
    let tests_out = String::from_utf8_lossy(&tests.stdout);
    let unit_tests = tests_out.lines().last().unwrap_or_default().to_string();
    if !tests.status.success() {
        wrong.push(format!("sluice test failed:\n{tests_out}"));
    }
    if !wrong.is_empty() {
        return Err(format!(
            "{name}:\n  {}\nleft out:\n  {}",
            wrong.join("\n  "),
            left_out.join("\n  ")
        ));
    }
    Ok(format!(
        "| {name} | {} | {equal} | {named} | {unit_tests} | SQLMesh {} |",
        expected.rows.len(),
        expected.sqlmesh_version
    ))
}

/// Runs `projects` of `dir` and checks every one.
fn check_all(dir: &Path, projects: &[&str]) {
    let mut report = vec![
        "| project | models SQLMesh built | applied, row counts equal | left out by name | unit tests | against |"
            .to_string(),
        "|---|---:|---:|---:|---|---|".to_string(),
    ];
    let mut failures = Vec::new();
    for name in projects {
        match run(dir, name) {
            Ok(line) => report.push(line),
            Err(why) => failures.push(why),
        }
    }
    println!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
#[ignore = "needs SQLMesh's examples: run scripts/public-projects"]
fn sqlmesh_examples_apply_with_sqlmeshs_row_counts() {
    let examples = PathBuf::from(
        std::env::var("SLUICE_SQLMESH_EXAMPLES")
            .expect("SLUICE_SQLMESH_EXAMPLES: the examples/ directory of SQLMesh's source"),
    );
    check_all(&examples, PROJECTS);
}

#[test]
fn kept_public_projects_apply_with_sqlmeshs_row_counts() {
    let kept = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/public_projects/kept");
    check_all(&kept, &["sushi_moderate", "sushi_simple"]);
}
