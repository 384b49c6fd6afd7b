//! Tests against SQLMesh 0.236.4's renders of the `testdata/` project (see
//! `testdata/README.md` for where each file comes from).

mod cases;
mod errors;
mod jinja_cases;
pub(crate) mod normalize;

use std::collections::BTreeMap;

use super::{Expanded, JinjaMacros, MacroContext, MacroError, TimeRange, expand, render_config};
use crate::model::{Dialect, ModelKind};

/// The project's config.yaml, rendered with no environment variables set.
const CONFIG: &str = include_str!("../testdata/config.yaml");
const JINJA_MACROS: &str = include_str!("../testdata/macros/jmacros.sql");
/// The Python macros of the project's `macros/util.py`.
const PYTHON_MACROS: &[&str] = &[
    "add_one",
    "upper_str",
    "multiply",
    "typed_sum",
    "col_list",
    "var_from_python",
    "this_model_name",
];

/// Columns of the project's two source models.
pub(super) fn source_columns(relation: &str) -> Option<Vec<(String, String)>> {
    let cols: &[(&str, &str)] = match relation {
        "mc.src_foo" => &[
            ("a", "INT"),
            ("b", "TEXT"),
            ("c", "TEXT"),
            ("d", "INT"),
            ("event_date", "DATE"),
        ],
        "mc.src_bar" => &[("a", "INT"), ("b", "INT"), ("c", "TEXT")],
        "mc.src" => &[("a", "INT"), ("b", "TEXT")],
        _ => return None,
    };
    Some(
        cols.iter()
            .map(|(c, t)| (c.to_string(), t.to_string()))
            .collect(),
    )
}

fn ms(date: &str) -> i64 {
    crate::intervals::parse_time(date, 0)
        .map(|(ms, _)| ms)
        .unwrap_or_default()
}

/// `--start 2024-01-01 --end 2024-01-03 --execution-time 2024-01-04`, as in the renders.
pub(super) fn render_times() -> TimeRange {
    TimeRange {
        start: ms("2024-01-01"),
        end: ms("2024-01-04"),
        execution: ms("2024-01-04"),
    }
}

fn variables(yaml: &serde_json::Value, path: &[&str]) -> BTreeMap<String, serde_json::Value> {
    let mut v = yaml;
    for key in path {
        v = &v[key];
    }
    v.as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

pub(super) fn incremental() -> ModelKind {
    ModelKind::IncrementalByTimeRange {
        time_column: "event_date".into(),
        time_format: None,
        batch_size: None,
        lookback: 0,
        forward_only: false,
    }
}

/// The context SQLMesh's `render` had for model `name` of the test project.
pub(super) fn context(name: &str, kind: ModelKind) -> MacroContext<'static> {
    let config = render_config(CONFIG, &BTreeMap::new()).expect("config renders");
    let yaml: serde_json::Value = serde_saphyr::from_str(&config).expect("config parses");
    let mut ctx = MacroContext::new(name, kind, Dialect::Duckdb);
    ctx.variables = variables(&yaml, &["variables"]);
    ctx.gateway_variables = variables(&yaml, &["gateways", "local", "variables"]);
    ctx.gateway = Some("local".into());
    let (schema, table) = name.split_once('.').unwrap_or_default();
    ctx.this_model = Some(format!("\"macro_cases\".\"{schema}\".\"{table}\""));
    ctx.times = Some(render_times());
    ctx.columns = Some(&source_columns);
    ctx.python_macros = PYTHON_MACROS.iter().map(|s| s.to_string()).collect();
    ctx.jinja_macros = vec![JinjaMacros {
        path: "macros/jmacros.sql".into(),
        source: JINJA_MACROS.into(),
    }];
    ctx
}

/// A model file split into its `MODEL (...)` block and the text after it (without the
/// inline `AUDIT` blocks, which are not part of the model's SQL).
pub(super) fn split_model(file: &str) -> (&str, &str) {
    let start = file.find("MODEL").unwrap_or(0);
    let open = start + file[start..].find('(').unwrap_or(0);
    let mut depth = 0;
    let mut end = file.len();
    for (i, c) in file[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    end = open + i + 1;
                    break;
                }
            }
            _ => {}
        }
    }
    let body = file[end..]
        .trim_start()
        .strip_prefix(';')
        .unwrap_or(&file[end..]);
    let body = body.find("AUDIT (").map_or(body, |a| &body[..a]);
    (&file[..end], body)
}

/// The kind in a model file's header (the test project has FULL and daily incremental ones).
pub(super) fn kind_of(header: &str) -> ModelKind {
    if header.contains("INCREMENTAL_BY_TIME_RANGE") {
        incremental()
    } else {
        ModelKind::Full
    }
}

/// Expands a test project model file as SQLMesh's render did.
pub(super) fn expand_model(
    file: &str,
    name: &str,
    blueprint: &[(&str, &str)],
) -> Result<Expanded, Vec<MacroError>> {
    let (header, body) = split_model(file);
    let mut ctx = context(name, kind_of(header));
    ctx.blueprint_variables = blueprint
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    expand(body, &ctx)
}

/// The expanded query, panicking with the errors when expansion fails.
pub(super) fn query(result: &Result<Expanded, Vec<MacroError>>) -> String {
    match result {
        Ok(e) => e.query().map(|q| q.sql.clone()).expect("a query"),
        Err(errors) => panic!(
            "expansion failed:\n{}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// Messages of a failed expansion, one per line, for assertions.
pub(super) fn error_lines(result: &Result<Expanded, Vec<MacroError>>) -> Vec<String> {
    match result {
        Ok(e) => panic!("expected errors, got:\n{}", e.sql),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}
