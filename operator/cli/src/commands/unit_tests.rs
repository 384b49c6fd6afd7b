//! `sluice test`: the project's unit tests, run against the warehouse and reported per test.

use std::path::Path;

use anyhow::{Result, bail};
use sluice_engine::unit_test::load_tests;
use sluice_warehouse::unit_tests::run_unit_tests;
use sluice_warehouse::workspace::Workspace;

use super::execution_time;

pub fn test_command(
    project: &Path,
    warehouse: Option<&str>,
    state: Option<&str>,
    only: &[String],
    at: Option<&str>,
) -> Result<()> {
    let now = execution_time(at)?;
    let mut ws = Workspace::open(project, warehouse, state)?;
    let tests = load_tests(&ws.project.root).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        anyhow::anyhow!(
            "{} problem(s) in the unit tests:\n{}",
            problems.len(),
            lines.join("\n")
        )
    })?;
    let tests: Vec<_> = tests
        .into_iter()
        .filter(|t| only.is_empty() || only.iter().any(|o| t.name.contains(o.as_str())))
        .collect();
    if tests.is_empty() {
        println!("No unit tests to run (SQLMesh's format, in tests/*.yaml).");
        return Ok(());
    }
    let outcomes = run_unit_tests(ws.warehouse.as_mut(), &ws.dag, &tests, now);
    for outcome in &outcomes {
        let verdict = match (&outcome.skipped, outcome.passed()) {
            (Some(_), _) => "SKIP",
            (None, true) => "PASS",
            (None, false) => "FAIL",
        };
        println!(
            "{verdict} {} ({}): {}",
            outcome.name,
            outcome.file.display(),
            outcome.model
        );
        for line in outcome
            .failure
            .iter()
            .chain(&outcome.skipped)
            .flat_map(|t| t.lines())
        {
            println!("    {line}");
        }
    }
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    let skipped = outcomes.iter().filter(|o| o.skipped.is_some()).count();
    println!(
        "Ran {} unit test(s): {} passed, {failed} failed{}.",
        outcomes.len() - skipped,
        outcomes.len() - failed - skipped,
        if skipped > 0 {
            format!(", {skipped} skipped (their models are left out)")
        } else {
            String::new()
        }
    );
    if failed > 0 {
        bail!("{failed} unit test(s) failed");
    }
    Ok(())
}
