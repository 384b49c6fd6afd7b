//! The project as loaded from disk: models, their kinds and header properties, custom audits.
//!
//! These types are plain data. Parsing lives in `project`, SQL analysis in `sql`, hashing in
//! `fingerprint`; everything downstream (plans, tasks, state) works on these values.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::grants::{Grants, GrantsLayer};

/// The SQL dialect a project's models are written in (and the warehouse speaks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    #[default]
    Duckdb,
    Postgres,
    /// Spark SQL, as Spark Connect servers and Databricks run it.
    Spark,
}

impl Dialect {
    pub fn parse(s: &str) -> Option<Dialect> {
        match s.trim().to_ascii_lowercase().as_str() {
            "duckdb" => Some(Dialect::Duckdb),
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "spark" | "spark2" | "databricks" => Some(Dialect::Spark),
            _ => None,
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dialect::Duckdb => "duckdb",
            Dialect::Postgres => "postgres",
            Dialect::Spark => "spark",
        })
    }
}

/// How a model's table is built. Mirrors SQLMesh's model kinds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ModelKind {
    /// Rebuilt from scratch on every run.
    Full,
    /// A view over its parents; nothing is materialized.
    View,
    /// Appends/overwrites one time range per batch.
    IncrementalByTimeRange {
        time_column: String,
        /// `time_column (ds, '%Y-%m-%d')`: how a text time column writes a time (strftime, as
        /// SQLMesh's DuckDB and PostgreSQL dialects read it); batch boundaries are compared in
        /// it. `None`: dates, or timestamps off midnight.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_format: Option<String>,
        /// Number of interval units per backfill batch; `None` = the whole range in one batch.
        batch_size: Option<u32>,
        /// Number of trailing interval units re-processed on every run (late-arriving data).
        lookback: u32,
        forward_only: bool,
    },
    /// Merges rows by key.
    IncrementalByUniqueKey {
        unique_key: Vec<String>,
        batch_size: Option<u32>,
        forward_only: bool,
    },
    /// A CSV file loaded as a table.
    Seed { path: String },
    /// Inlined into the models that reference it; never materialized.
    Embedded,
    /// A table managed outside the project; referenced as-is.
    External,
}

impl ModelKind {
    /// The kind's name as written in a header (`INCREMENTAL_BY_TIME_RANGE`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            ModelKind::Full => "FULL",
            ModelKind::View => "VIEW",
            ModelKind::IncrementalByTimeRange { .. } => "INCREMENTAL_BY_TIME_RANGE",
            ModelKind::IncrementalByUniqueKey { .. } => "INCREMENTAL_BY_UNIQUE_KEY",
            ModelKind::Seed { .. } => "SEED",
            ModelKind::Embedded => "EMBEDDED",
            ModelKind::External => "EXTERNAL",
        }
    }

    /// Embedded and external models have no physical table of their own.
    pub fn is_symbolic(&self) -> bool {
        matches!(self, ModelKind::Embedded | ModelKind::External)
    }

    /// Kinds whose table holds rows computed from the query (not a view, seed or symbol).
    pub fn is_materialized_by_query(&self) -> bool {
        matches!(
            self,
            ModelKind::Full
                | ModelKind::IncrementalByTimeRange { .. }
                | ModelKind::IncrementalByUniqueKey { .. }
        )
    }

    /// Whether the kind itself declares every change forward-only.
    pub fn forward_only(&self) -> bool {
        match self {
            ModelKind::IncrementalByTimeRange { forward_only, .. }
            | ModelKind::IncrementalByUniqueKey { forward_only, .. } => *forward_only,
            _ => false,
        }
    }
}

/// One argument of an audit call: the SQL text of a scalar, or of each element of a list.
/// `not_null(columns := [a, b])` has `columns = List(["a", "b"])`;
/// `forall(criteria := (x > 0, y < 10))` has `criteria = List(["x > 0", "y < 10"])`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AuditArg {
    Scalar(String),
    List(Vec<String>),
}

impl AuditArg {
    /// The argument as a list (a scalar is a one-element list).
    pub fn items(&self) -> Vec<String> {
        match self {
            AuditArg::Scalar(s) => vec![s.clone()],
            AuditArg::List(v) => v.clone(),
        }
    }
}

/// An audit attached to a model in its header, e.g. `not_null(columns := [id])`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCall {
    /// As written, including a `_non_blocking` suffix if present.
    pub name: String,
    pub args: BTreeMap<String, AuditArg>,
}

impl AuditCall {
    /// `_non_blocking` variants only warn; everything else blocks promotion.
    pub fn blocking(&self) -> bool {
        !self.name.ends_with("_non_blocking")
    }

    /// The audit's name without the `_non_blocking` suffix.
    pub fn base_name(&self) -> &str {
        self.name
            .strip_suffix("_non_blocking")
            .unwrap_or(&self.name)
    }
}

/// A SQL model: one `.sql` file with a `MODEL (...)` header and a query (or a seed/external
/// declaration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Model {
    /// The model name as written in the header, e.g. `stg.orders`.
    pub name: String,
    /// File the model came from, relative to the project root.
    pub path: PathBuf,
    pub kind: ModelKind,
    pub dialect: Dialect,
    /// Cron expression or alias (`@daily`, `@hourly`, `0 */6 * * *`).
    pub cron: String,
    /// First date/time the model has data for (`2024-01-01` or `2024-01-01 06:00:00`).
    pub start: Option<String>,
    pub end: Option<String>,
    pub owner: Option<String>,
    pub description: Option<String>,
    pub grains: Vec<String>,
    pub tags: Vec<String>,
    pub audits: Vec<AuditCall>,
    /// Dependencies declared with `depends_on`, in addition to those found in the query.
    pub depends_on: Vec<String>,
    /// Declared column names and types, in order.
    pub columns: Vec<(String, String)>,
    /// The model's SQL (everything after the header), absent for SEED and EXTERNAL.
    pub query: Option<String>,
    /// 1-based line in `path` where `query` starts, for error messages.
    pub query_line: usize,
    /// Statements run before the query in each batch (SQLMesh's pre-statements), their macros
    /// expanded; time variables and `@this_model` are filled in when they run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_statements: Vec<String>,
    /// Statements run after the query in each batch (SQLMesh's post-statements).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_statements: Vec<String>,
    /// For SEED models: the CSV file's content, so that a changed seed changes the fingerprint
    /// and a task can load it without the project directory.
    pub seed_content: Option<String>,
    /// `grants (...)`, or `model_defaults.grants` when the model declares none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub grants: Grants,
    /// `grants_target_layer`: the views (default), the physical table, or both.
    #[serde(default, skip_serializing_if = "GrantsLayer::is_default")]
    pub grants_target_layer: GrantsLayer,
}

/// Splits `schema.table` into its parts; `None` when the name is not two-part.
pub fn split_name(name: &str) -> Option<(&str, &str)> {
    let (schema, table) = name.split_once('.')?;
    if schema.is_empty() || table.is_empty() || table.contains('.') {
        return None;
    }
    Some((schema, table))
}

/// An audit defined in `audits/*.sql`: `AUDIT (name my_audit, ...); SELECT ... FROM @this_model`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomAudit {
    pub name: String,
    pub path: PathBuf,
    /// The query returning violating rows; may use `@this_model` and `@<arg>` placeholders.
    pub query: String,
    /// Default argument values declared in the header (`defaults (threshold := 10)`).
    pub defaults: BTreeMap<String, AuditArg>,
    pub blocking: bool,
    /// `standalone true`: attached to no model, it reads models by name (SQLMesh runs it as a
    /// node of its own). Not run by Sluice yet: named in the plan as left out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub standalone: bool,
}

/// `before_all` / `after_all` statements from the project's `config.yaml`, run inside a
/// promotion's transaction around the view swaps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statements {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub before_all: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after_all: Vec<String>,
}

impl Statements {
    pub fn is_empty(&self) -> bool {
        self.before_all.is_empty() && self.after_all.is_empty()
    }
}

/// Settings from `config.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ProjectConfig {
    pub dialect: Dialect,
    /// `model_defaults.start`: a model without `start` uses it.
    pub start: Option<String>,
    /// `model_defaults.cron`, `@daily` when absent.
    pub cron: String,
    /// The default gateway's connection as a warehouse URL (`duckdb:PATH`,
    /// `postgres://...`), if the config names one.
    pub warehouse: Option<String>,
    /// The default gateway's `state_connection` as a URL: where Sluice keeps its state when
    /// not in the warehouse itself (needed by warehouses without transactions, e.g. Spark).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `before_all` / `after_all`: run in every promotion's transaction.
    pub statements: Statements,
    /// `model_defaults.grants`: what a model without `grants` is granted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub grants: Grants,
    /// `model_defaults.grants_target_layer`.
    #[serde(default, skip_serializing_if = "GrantsLayer::is_default")]
    pub grants_target_layer: GrantsLayer,
    /// `variables:`, for the models' macros (`@name`, `@VAR('name')`, Jinja `var('name')`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, serde_json::Value>,
    /// The default gateway's name (`@gateway`) and its `variables:`, which win over
    /// `variables`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gateway_variables: BTreeMap<String, serde_json::Value>,
}

impl Model {
    /// A FULL model named `name` computing `query`, with every other property at its default
    /// (daily, from 2024-01-01, DuckDB dialect): a building block for tests and tools.
    pub fn full(name: &str, query: &str) -> Model {
        Model {
            name: name.to_string(),
            path: format!("models/{name}.sql").into(),
            kind: ModelKind::Full,
            dialect: Dialect::Duckdb,
            cron: "@daily".into(),
            start: Some("2024-01-01".into()),
            end: None,
            owner: None,
            description: None,
            grains: vec![],
            tags: vec![],
            audits: vec![],
            depends_on: vec![],
            columns: vec![],
            query: Some(query.to_string()),
            query_line: 3,
            pre_statements: vec![],
            post_statements: vec![],
            seed_content: None,
            grants: Grants::new(),
            grants_target_layer: GrantsLayer::Virtual,
        }
    }
}

/// The key models are looked up by: names are case-insensitive, like unquoted SQL identifiers.
pub fn model_key(name: &str) -> String {
    name.to_ascii_lowercase()
}
