//! Rendering a model's query for one run: parents become their physical tables (of the same
//! snapshot set, never environment views), embedded models become CTEs, and macro variables
//! get the batch's values.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sluice_engine::graph::model_key;
use sluice_engine::intervals::Interval;
use sluice_engine::model::Model;
use sluice_engine::snapshot::quote_ident;
use sluice_engine::sql::{MacroValues, parse_query_ast, render};

/// What a relation name in a query stands for when the query runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// A table or view to read, as quoted SQL (`"sluice__stg"."stg__orders__abc"`).
    Table(String),
    /// An embedded model, inlined as a CTE.
    Embedded(Box<Model>),
}

/// Error rendering a query (the stored query no longer parses: state from another version).
#[derive(Debug, thiserror::Error)]
#[error("{model}: cannot render query: {message}")]
pub struct RenderError {
    pub model: String,
    pub message: String,
}

/// Name of the CTE an embedded model is inlined as.
fn embedded_cte(name: &str) -> String {
    quote_ident(&format!(
        "__embedded__{}",
        model_key(name).replace('.', "__")
    ))
}

/// Renders `model`'s query for `interval`, with `@this_model` = `this_table`.
pub fn render_model(
    model: &Model,
    inputs: &BTreeMap<String, Input>,
    interval: Interval,
    execution_time: i64,
    this_table: &str,
) -> Result<String, RenderError> {
    let macros = MacroValues::for_interval(interval.start, interval.end, execution_time)
        .with_this_model(this_table);
    let mut tables: BTreeMap<String, String> = BTreeMap::new();
    for (key, input) in inputs {
        let sql = match input {
            Input::Table(table) => table.clone(),
            Input::Embedded(m) => embedded_cte(&m.name),
        };
        tables.insert(key.clone(), sql);
    }
    // A model reading itself (an incremental model adding to its previous rows) reads its own
    // table, as in SQLMesh.
    tables
        .entry(model_key(&model.name))
        .or_insert_with(|| this_table.to_string());
    let mut ctes = Vec::new();
    let mut seen = BTreeSet::new();
    let body = render_one(model, inputs, &tables, &macros, &mut ctes, &mut seen)?;
    if ctes.is_empty() {
        return Ok(body);
    }
    Ok(format!(
        "WITH {} SELECT * FROM ({body}) AS __sluice_query",
        ctes.join(", ")
    ))
}

/// Points the model names an audit's query reads at this run's tables: the model itself
/// (`LEFT JOIN omop.DOSE_ERA ...`, in any case) at its table, its parents at theirs. A query
/// Sluice cannot parse is left as written, for the warehouse to judge.
pub fn render_audit_tables(
    model: &Model,
    inputs: &BTreeMap<String, Input>,
    this_table: &str,
    sql: &str,
) -> String {
    let Ok((ast, _)) = parse_query_ast(sql, model.dialect, 1) else {
        return sql.to_string();
    };
    let mut tables: BTreeMap<String, String> = inputs
        .iter()
        .filter_map(|(key, input)| match input {
            Input::Table(table) => Some((key.clone(), table.clone())),
            Input::Embedded(_) => None,
        })
        .collect();
    tables.insert(model_key(&model.name), this_table.to_string());
    render(&ast, &tables, &MacroValues::default())
}

/// The model's pre- and post-statements for `interval`, with the time variables and
/// `@this_model` = `this_table` filled in (their macros were expanded when the project loaded).
pub fn render_statements(
    model: &Model,
    interval: Interval,
    execution_time: i64,
    this_table: &str,
) -> (Vec<String>, Vec<String>) {
    let macros = MacroValues::for_interval(interval.start, interval.end, execution_time)
        .with_this_model(this_table);
    let fill = |statements: &[String]| statements.iter().map(|s| macros.apply(s)).collect();
    (fill(&model.pre_statements), fill(&model.post_statements))
}

/// Renders one query, first adding CTEs for the embedded models it reads (depth first, so an
/// embedded model's own embedded parents come before it).
fn render_one(
    model: &Model,
    inputs: &BTreeMap<String, Input>,
    tables: &BTreeMap<String, String>,
    macros: &MacroValues,
    ctes: &mut Vec<String>,
    seen: &mut BTreeSet<String>,
) -> Result<String, RenderError> {
    let err = |message: String| RenderError {
        model: model.name.clone(),
        message,
    };
    let sql = model
        .query
        .as_deref()
        .ok_or_else(|| err("the model has no query".into()))?;
    let (ast, parsed) =
        parse_query_ast(sql, model.dialect, model.query_line).map_err(|e| err(e.to_string()))?;
    for table in &parsed.tables {
        if let Some(Input::Embedded(embedded)) = inputs.get(table)
            && seen.insert(table.clone())
        {
            let body = render_one(embedded, inputs, tables, macros, ctes, seen)?;
            ctes.push(format!("{} AS ({body})", embedded_cte(&embedded.name)));
        }
    }
    Ok(render(&ast, tables, macros))
}
