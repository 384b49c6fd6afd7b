//! Unit tests in SQLMesh's format (`tests/*.yaml`): a model's query run on rows the test gives
//! for its inputs, compared with the rows it expects from the query and from its CTEs.
//!
//! This module reads the files and compares results; running a test needs a warehouse
//! (`sluice_warehouse::unit_tests`).

mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::project::Diagnostic;
pub use values::{Mismatch, compare, fixture_sql, same_value};

/// Rows as a test writes them: column names and values (columns are matched by name, so
/// their order does not matter).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rows {
    pub columns: Vec<String>,
    pub values: Vec<Vec<Value>>,
}

/// What a test gives a model reads: rows, or a query producing them.
#[derive(Debug, Clone, PartialEq)]
pub enum Fixture {
    Rows(Rows),
    Query(String),
}

/// Rows a test expects, all columns or (`partial`) only those it names.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expected {
    pub rows: Rows,
    pub partial: bool,
}

/// One unit test.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitTest {
    pub name: String,
    /// Relative to the project root.
    pub file: PathBuf,
    pub model: String,
    pub description: Option<String>,
    /// Model (or table) name → its rows.
    pub inputs: BTreeMap<String, Fixture>,
    pub query: Option<Expected>,
    pub ctes: BTreeMap<String, Expected>,
    /// `start`, `end`, `execution_time` and the model's macro variables.
    pub vars: BTreeMap<String, Value>,
}

/// Reads every `tests/**/*.yaml` (and `.yml`) of the project, in path order. Every problem in
/// every file is reported, not just the first.
pub fn load_tests(root: &Path) -> Result<Vec<UnitTest>, Vec<Diagnostic>> {
    let mut files = Vec::new();
    collect(&root.join("tests"), &mut files);
    files.sort();
    let (mut tests, mut problems) = (Vec::new(), Vec::new());
    for path in files {
        let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                problems.push(Diagnostic::file(&relative, format!("cannot read: {e}")));
                continue;
            }
        };
        match parse_file(&relative, &text) {
            Ok(found) => tests.extend(found),
            Err(found) => problems.extend(found),
        }
    }
    if problems.is_empty() {
        Ok(tests)
    } else {
        Err(problems)
    }
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(path);
        }
    }
}

/// The tests of one file.
pub fn parse_file(file: &Path, text: &str) -> Result<Vec<UnitTest>, Vec<Diagnostic>> {
    let value: Value = serde_saphyr::from_str(text)
        .map_err(|e| vec![Diagnostic::file(file, format!("not valid YAML: {e}"))])?;
    let Value::Object(entries) = value else {
        return if value.is_null() {
            Ok(Vec::new())
        } else {
            Err(vec![Diagnostic::file(
                file,
                "expected a mapping of test names to tests",
            )])
        };
    };
    let (mut tests, mut problems) = (Vec::new(), Vec::new());
    for (name, body) in entries {
        match parse_test(file, &name, &body) {
            Ok(test) => tests.push(test),
            Err(message) => {
                problems.push(Diagnostic::file(file, format!("test {name}: {message}")))
            }
        }
    }
    if problems.is_empty() {
        Ok(tests)
    } else {
        Err(problems)
    }
}

fn parse_test(file: &Path, name: &str, body: &Value) -> Result<UnitTest, String> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or("`model` (the model under test) is missing")?;
    let mut inputs = BTreeMap::new();
    if let Some(given) = body.get("inputs") {
        let given = given
            .as_object()
            .ok_or("`inputs` must map models to rows")?;
        for (input, rows) in given {
            let fixture = match rows.get("query").and_then(Value::as_str) {
                Some(query) => {
                    Fixture::Query(one_query(query).map_err(|e| format!("inputs of {input}: {e}"))?)
                }
                None => {
                    Fixture::Rows(rows_of(rows).map_err(|e| format!("inputs of {input}: {e}"))?)
                }
            };
            inputs.insert(input.clone(), fixture);
        }
    }
    let outputs = body.get("outputs").ok_or("`outputs` is missing")?;
    let query = match outputs.get("query") {
        Some(expected) => Some(expected_of(expected).map_err(|e| format!("outputs.query: {e}"))?),
        None => None,
    };
    let mut ctes = BTreeMap::new();
    if let Some(given) = outputs.get("ctes") {
        let given = given
            .as_object()
            .ok_or("`outputs.ctes` must map CTE names to rows")?;
        for (cte, expected) in given {
            let expected = expected_of(expected).map_err(|e| format!("outputs.ctes.{cte}: {e}"))?;
            ctes.insert(cte.clone(), expected);
        }
    }
    if query.is_none() && ctes.is_empty() {
        return Err("`outputs` names neither `query` nor `ctes`".into());
    }
    let vars = match body.get("vars") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(vars)) => vars.clone().into_iter().collect(),
        Some(_) => return Err("`vars` must be a mapping".into()),
    };
    Ok(UnitTest {
        name: name.to_string(),
        file: file.to_path_buf(),
        model: model.to_string(),
        description: body
            .get("description")
            .and_then(Value::as_str)
            .map(String::from),
        inputs,
        query,
        ctes,
        vars,
    })
}

/// A query returning what CTE `cte` of the (rendered) model query holds.
pub fn cte_query(
    rendered: &str,
    dialect: crate::model::Dialect,
    cte: &str,
) -> Result<String, String> {
    use sqlparser::ast::Statement;
    let statements =
        sqlparser::parser::Parser::parse_sql(crate::sql::sql_dialect(dialect).as_ref(), rendered)
            .map_err(|e| format!("cannot read the rendered query: {e}"))?;
    let Some(Statement::Query(query)) = statements.into_iter().next() else {
        return Err("the model's query is not a SELECT".into());
    };
    let with = query
        .with
        .as_ref()
        .ok_or_else(|| format!("the model's query has no CTE {cte} (it has no WITH)"))?;
    let found = with
        .cte_tables
        .iter()
        .find(|c| c.alias.name.value.eq_ignore_ascii_case(cte))
        .ok_or_else(|| {
            let names: Vec<String> = with
                .cte_tables
                .iter()
                .map(|c| c.alias.name.to_string())
                .collect();
            format!(
                "the model's query has no CTE {cte} (it has: {})",
                names.join(", ")
            )
        })?;
    Ok(format!("{with} SELECT * FROM {}", found.alias.name))
}

/// An input's `query`: one SELECT and nothing else, so a test file can never slip in a
/// `COMMIT` or a second statement around it (the test's transaction is rolled back).
fn one_query(sql: &str) -> Result<String, String> {
    use sqlparser::ast::Statement;
    let dialect = sqlparser::dialect::GenericDialect {};
    let statements = sqlparser::parser::Parser::parse_sql(&dialect, sql)
        .map_err(|e| format!("`query` does not parse: {e}"))?;
    match statements.as_slice() {
        [Statement::Query(q)] => Ok(q.to_string()),
        _ => Err("`query` must be exactly one SELECT".into()),
    }
}

fn expected_of(value: &Value) -> Result<Expected, String> {
    Ok(Expected {
        rows: rows_of(value)?,
        partial: value
            .get("partial")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// Rows given as a list of mappings, as `{rows: [...]}`, or as CSV (`{format: csv, rows: |}`).
fn rows_of(value: &Value) -> Result<Rows, String> {
    let list = match value {
        Value::Array(_) => value,
        Value::Object(o) => match o.get("rows") {
            Some(Value::String(csv)) if o.get("format").and_then(Value::as_str) == Some("csv") => {
                return csv_rows(csv);
            }
            Some(rows) => rows,
            None => return Ok(Rows::default()),
        },
        Value::Null => return Ok(Rows::default()),
        _ => return Err("rows must be a list of mappings (column: value)".into()),
    };
    let mut rows = Rows::default();
    let items = list
        .as_array()
        .ok_or("rows must be a list of mappings (column: value)")?;
    let maps: Vec<&serde_json::Map<String, Value>> = items
        .iter()
        .map(|row| {
            row.as_object()
                .ok_or("each row must be a mapping (column: value)")
        })
        .collect::<Result<_, _>>()?;
    for map in &maps {
        for column in map.keys() {
            if !rows.columns.contains(column) {
                rows.columns.push(column.clone());
            }
        }
    }
    for map in maps {
        rows.values.push(
            rows.columns
                .iter()
                .map(|c| map.get(c).cloned().unwrap_or(Value::Null))
                .collect(),
        );
    }
    Ok(rows)
}

fn csv_rows(text: &str) -> Result<Rows, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let columns: Vec<String> = reader
        .headers()
        .map_err(|e| format!("CSV rows: {e}"))?
        .iter()
        .map(String::from)
        .collect();
    let mut values = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("CSV rows: {e}"))?;
        values.push(
            record
                .iter()
                .map(|field| {
                    if field.is_empty() {
                        Value::Null
                    } else if let Ok(n) = field.parse::<i64>() {
                        Value::from(n)
                    } else if let Some(n) = field
                        .parse::<f64>()
                        .ok()
                        .and_then(serde_json::Number::from_f64)
                    {
                        Value::Number(n)
                    } else {
                        Value::String(field.to_string())
                    }
                })
                .collect(),
        );
    }
    Ok(Rows { columns, values })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlmesh_test_files_are_read_in_every_form() {
        let text = r#"
test_rows:
  model: sushi.customer_revenue_by_day
  inputs:
    sushi.orders:
      - id: 1
        customer_id: 1
      - id: 2
    sushi.items:
      rows:
        - id: 1
          price: 1.23
    sushi.csv:
      format: csv
      rows: |
        a,b
        1,x
        ,y
    sushi.q:
      query: SELECT 1 AS id
  outputs:
    ctes:
      order_total:
        partial: true
        rows:
          - order_id: 1
    query:
      - customer_id: 1
        revenue: 26.1
  vars:
    start: 2022-01-01
"#;
        let tests = parse_file(Path::new("tests/t.yaml"), text).unwrap();
        let t = &tests[0];
        assert_eq!(t.model, "sushi.customer_revenue_by_day");
        let Fixture::Rows(orders) = &t.inputs["sushi.orders"] else {
            panic!()
        };
        assert_eq!(orders.columns, ["customer_id", "id"]);
        assert_eq!(orders.values[1], [Value::Null, Value::from(2)]);
        let Fixture::Rows(csv) = &t.inputs["sushi.csv"] else {
            panic!()
        };
        assert_eq!(csv.values[1], [Value::Null, Value::from("y")]);
        assert_eq!(t.inputs["sushi.q"], Fixture::Query("SELECT 1 AS id".into()));
        assert!(t.ctes["order_total"].partial);
        assert_eq!(
            t.query.as_ref().unwrap().rows.columns,
            ["customer_id", "revenue"]
        );
        assert_eq!(t.vars["start"], Value::from("2022-01-01"));
    }

    #[test]
    fn every_broken_test_is_reported() {
        let text = "a:\n  inputs: {}\nb:\n  model: m\nc:\n  model: m\n  outputs:\n    query: 3\n";
        let problems = parse_file(Path::new("tests/t.yaml"), text).unwrap_err();
        let messages: Vec<&str> = problems.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        let sneaky = "t:\n  model: m\n  inputs:\n    a:\n      query: SELECT 1; COMMIT; DROP TABLE x\n  outputs:\n    query: []\n";
        let refused = parse_file(Path::new("tests/t.yaml"), sneaky).unwrap_err();
        assert!(
            refused[0].message.contains("exactly one SELECT"),
            "{refused:?}"
        );
        assert!(messages[0].contains("test a: `model`"));
        assert!(messages[1].contains("test b: `outputs` is missing"));
        assert!(messages[2].contains("test c: outputs.query"));
    }
}
