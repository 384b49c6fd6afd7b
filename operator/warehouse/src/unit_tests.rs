//! Running a project's unit tests (`tests/*.yaml`, SQLMesh's format) on a warehouse.
//!
//! Each test runs in a transaction that is rolled back: its input rows become tables of a
//! scratch schema, the model's query is rendered to read them (and its time variables from the
//! test's `vars`), and what it returns — and what each expected CTE holds — is compared with
//! the test's rows. Nothing a test does outlives it, so tests can run against the warehouse
//! itself, in its own dialect.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sluice_engine::graph::{Dag, model_key};
use sluice_engine::intervals::{parse_end, parse_time};
use sluice_engine::model::{Model, ModelKind};
use sluice_engine::snapshot::{PhysicalTable, quote_ident};
use sluice_engine::unit_test::{Expected, Fixture, UnitTest, compare, cte_query, fixture_sql};

use crate::executor::render::{Input, render_model};
use crate::warehouse::Warehouse;

/// The schema a test's tables live in, for the test's transaction only.
const SCRATCH: &str = "sluice_unit_test";

/// The longest any statement of a unit test may run (PostgreSQL).
const TEST_TIMEOUT_MS: u64 = 60_000;

/// How one test went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestOutcome {
    pub name: String,
    pub file: PathBuf,
    pub model: String,
    /// `None`: passed; otherwise what differed, or why it could not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Why it was not run: its model needs Python. Not a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

impl TestOutcome {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// Runs `tests` against `warehouse` for the project's `dag`, each in its own rolled-back
/// transaction; `now` (epoch ms) is the execution time when a test sets none.
pub fn run_unit_tests(
    warehouse: &mut dyn Warehouse,
    dag: &Dag,
    tests: &[UnitTest],
    now: i64,
) -> Vec<TestOutcome> {
    // Models left out for reading something that needs Python are tested too: a test gives
    // that input as rows.
    let nodes = || dag.nodes.iter().chain(&dag.left_out);
    let models: BTreeMap<String, &Model> = nodes()
        .map(|n| (model_key(&n.model.name), &n.model))
        .collect();
    let parents: BTreeMap<String, &Vec<String>> = nodes()
        .map(|n| (model_key(&n.model.name), &n.parents))
        .collect();
    tests
        .iter()
        .map(|test| {
            let needs_python = dag.refused.iter().find(|(what, _)| {
                !models.contains_key(&model_key(&test.model))
                    && what.split(' ').next().map(model_key) == Some(model_key(&test.model))
            });
            if let Some((_, why)) = needs_python {
                return TestOutcome {
                    name: test.name.clone(),
                    file: test.file.clone(),
                    model: test.model.clone(),
                    failure: None,
                    skipped: Some(format!("{} {why}", test.model)),
                };
            }
            let failure = match warehouse.begin() {
                Ok(()) => {
                    let result = run_one(warehouse, &models, &parents, test, now);
                    let _ = warehouse.rollback();
                    result.err()
                }
                Err(e) => Some(format!("cannot start a transaction: {e}")),
            };
            TestOutcome {
                name: test.name.clone(),
                file: test.file.clone(),
                model: test.model.clone(),
                failure,
                skipped: None,
            }
        })
        .collect()
}

fn run_one(
    warehouse: &mut dyn Warehouse,
    models: &BTreeMap<String, &Model>,
    parents: &BTreeMap<String, &Vec<String>>,
    test: &UnitTest,
    now: i64,
) -> Result<(), String> {
    let key = model_key(&test.model);
    let model = *models
        .get(&key)
        .ok_or_else(|| format!("the project has no model {}", test.model))?;
    if model.query.is_none() {
        return Err(format!(
            "{} has no query to test ({:?})",
            test.model, model.kind
        ));
    }
    if warehouse.dialect() == sluice_engine::model::Dialect::Spark {
        return Err(
            "unit tests are not run on Spark yet: a test's tables are thrown away by \
                    rolling back its transaction, and Spark has no transactions"
                .to_string(),
        );
    }
    if warehouse.dialect() == sluice_engine::model::Dialect::Postgres {
        // A test runs in the operator's own connection: it may not hold it for long.
        warehouse
            .execute(&format!(
                "SET LOCAL statement_timeout = '{TEST_TIMEOUT_MS}ms'"
            ))
            .map_err(|e| e.to_string())?;
    }
    warehouse
        .execute(&format!("CREATE SCHEMA {}", quote_ident(SCRATCH)))
        .map_err(|e| e.to_string())?;
    let mut tables: BTreeMap<String, String> = BTreeMap::new();
    for (i, (name, fixture)) in test.inputs.iter().enumerate() {
        let table = format!(
            "{}.{}",
            quote_ident(SCRATCH),
            quote_ident(&format!("input_{i}"))
        );
        let select = match fixture {
            Fixture::Query(sql) => sql.clone(),
            Fixture::Rows(rows) => {
                let types: BTreeMap<String, String> = models
                    .get(&model_key(name))
                    .map(|m| m.columns.iter().cloned().collect())
                    .unwrap_or_default();
                fixture_sql(rows, &types).map_err(|e| format!("inputs of {name}: {e}"))?
            }
        };
        warehouse
            .execute(&format!("CREATE TABLE {table} AS {select}"))
            .map_err(|e| format!("inputs of {name}: {e}"))?;
        tables.insert(model_key(name), table);
    }
    let inputs = inputs_for(&key, models, parents, &tables, &test.model)?;
    let (start, end, execution) = times(test, model, now)?;
    let this = format!("{}.{}", quote_ident(SCRATCH), quote_ident("this_model"));
    let interval = sluice_engine::intervals::Interval::new(start, end);
    let rendered =
        render_model(model, &inputs, interval, execution, &this).map_err(|e| e.to_string())?;
    let mut failures = Vec::new();
    if let Some(expected) = &test.query
        && let Err(e) = check(warehouse, &rendered, expected, "result")
    {
        failures.push(format!("query: {e}"));
    }
    for (cte, expected) in &test.ctes {
        let sql = match cte_query(&rendered, model.dialect, cte) {
            Ok(sql) => sql,
            Err(e) => {
                failures.push(format!("CTE {cte}: {e}"));
                continue;
            }
        };
        if let Err(e) = check(
            warehouse,
            &sql,
            expected,
            &format!("cte_{}", failures.len()),
        ) {
            failures.push(format!("CTE {cte}: {e}"));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// What each table name in the model's query reads: the test's rows, or an embedded model
/// inlined (its own parents from the test too). A parent the test gives nothing for is an
/// error, never a silent read of real data.
fn inputs_for(
    key: &str,
    models: &BTreeMap<String, &Model>,
    parents: &BTreeMap<String, &Vec<String>>,
    tables: &BTreeMap<String, String>,
    name: &str,
) -> Result<BTreeMap<String, Input>, String> {
    let mut inputs: BTreeMap<String, Input> = tables
        .iter()
        .map(|(k, t)| (k.clone(), Input::Table(t.clone())))
        .collect();
    let mut pending: Vec<String> = parents.get(key).map(|p| p.to_vec()).unwrap_or_default();
    while let Some(parent) = pending.pop() {
        let parent_key = model_key(&parent);
        if inputs.contains_key(&parent_key) {
            continue;
        }
        match models.get(&parent_key) {
            Some(m) if matches!(m.kind, ModelKind::Embedded) => {
                inputs.insert(parent_key.clone(), Input::Embedded(Box::new((*m).clone())));
                pending.extend(
                    parents
                        .get(&parent_key)
                        .map(|p| p.to_vec())
                        .unwrap_or_default(),
                );
            }
            _ => {
                return Err(format!(
                    "{name} reads {parent}, which the test gives no rows for: add it under \
                     `inputs` (an empty list for no rows)"
                ));
            }
        }
    }
    Ok(inputs)
}

/// The interval and execution time a test runs at: its `vars` (`start`, `end`,
/// `execution_time`), else the model's start up to the execution time's day.
fn times(test: &UnitTest, model: &Model, now: i64) -> Result<(i64, i64, i64), String> {
    let var = |name: &str| {
        test.vars.get(name).map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let bad = |name: &str, e: String| format!("vars.{name}: {e}");
    let execution = match var("execution_time") {
        Some(t) => parse_time(&t, now).map_err(|e| bad("execution_time", e))?.0,
        None => now,
    };
    let end = match var("end") {
        Some(t) => parse_end(&t, execution).map_err(|e| bad("end", e))?,
        None => sluice_engine::intervals::IntervalUnit::Day.floor(execution),
    };
    let start = match var("start").or_else(|| model.start.clone()) {
        Some(t) => parse_time(&t, execution).map_err(|e| bad("start", e))?.0,
        None => end - 86_400_000,
    };
    Ok((start, end.max(start), execution))
}

/// Runs `sql` into a scratch table (to learn its columns) and compares its rows.
fn check(
    warehouse: &mut dyn Warehouse,
    sql: &str,
    expected: &Expected,
    name: &str,
) -> Result<(), String> {
    let table = format!("{}.{}", quote_ident(SCRATCH), quote_ident(name));
    warehouse
        .execute(&format!("CREATE TABLE {table} AS {sql}"))
        .map_err(|e| e.to_string())?;
    let scratch = PhysicalTable {
        schema: SCRATCH.to_string(),
        table: name.to_string(),
    };
    let columns: Vec<String> = crate::warehouse::table_columns(warehouse, &scratch)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(column, _)| column)
        .collect();
    let rows = warehouse
        .query(&format!("SELECT * FROM {table}"))
        .map_err(|e| e.to_string())?;
    compare(expected, &columns, &rows).map_err(|m| m.to_string())
}
