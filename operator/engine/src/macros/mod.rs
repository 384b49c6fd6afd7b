//! SQLMesh's macro language and Jinja, expanded in a model's SQL text.
//!
//! [`expand`] takes the text after a model's `MODEL (...)` block (its `@DEF`s, pre-statements,
//! query and post-statements) and returns it with every macro replaced, as SQLMesh 0.236
//! renders it up to formatting. It is pure: everything it knows comes from the
//! [`MacroContext`] (variables, the model's kind, the time range, a callback for relations'
//! columns). [`render_config`] renders the Jinja of a config file.
//!
//! Supported:
//! * `@DEF(name, value)` (values, lists, lambdas `x -> ...` / `(x, y) -> ...`), `@name`,
//!   `@{name}` and `col_@name` identifiers, string/number/list literals, nested macros.
//! * Built-ins: `@IF`, `@EACH`, `@REDUCE`, `@FILTER`, `@EVAL`, `@SQL`, `@VAR`,
//!   `@BLUEPRINT_VAR`, `@AND`, `@OR`, `@STAR`, `@UNION`, `@GENERATE_SURROGATE_KEY`,
//!   `@SAFE_ADD`, `@SAFE_SUB`, `@SAFE_DIV`, `@PIVOT`, `@DEDUPLICATE`, `@DATE_SPINE`,
//!   `@HAVERSINE_DISTANCE`, `@RESOLVE_TEMPLATE`, and the clause macros `@WITH`, `@JOIN`,
//!   `@WHERE`, `@GROUP_BY`, `@HAVING`, `@ORDER_BY`, `@LIMIT`.
//! * Predefined variables: `@{start,end,execution,latest}_{ds,date,ts,tstz,dt,dtntz,epoch,
//!   millis,hour}`, `@this_model`, `@gateway`, `@runtime_stage`. (SQLMesh 0.236 has no
//!   `@this_env`; `@model_kind_name` exists only in `physical_properties`.)
//! * Jinja blocks (`JINJA_QUERY_BEGIN;` / `JINJA_STATEMENT_BEGIN;` ... `JINJA_END;`) with
//!   SQLMesh's context and the project's Jinja macros; see `jinja`.
//!
//! SQLMesh's own quirks are kept, since real projects depend on the SQL they produce: lambda
//! arguments are substituted as text without parentheses (`x -> x * 2` on `a + 1` gives
//! `a + 1 * 2`); a bare lambda parameter is not substituted inside a nested macro call (write
//! `@x` there); a string from `@EVAL` or `@{x}` becomes an identifier; FULL and VIEW queries
//! have no `@start_*`/`@end_*`; a project list variable is a tuple (`IN @list_var`) while
//! `@VAR('list_var')` is an array.
//!
//! Where Sluice differs from SQLMesh, it reports instead of producing SQL that fails later:
//! * Python macros (`macros/*.py`) are not run: each call is an error naming the macro.
//! * A condition that compares a column with `<`, `>`, ... (SQLMesh silently takes it as
//!   true), a NULL `@EVAL` in a projection, an `@EACH` list where one expression is expected,
//!   an unknown macro function in a pre/post statement, and `{{ ... }}` outside Jinja blocks
//!   are errors at expansion. A lambda called with the wrong number of arguments is an error
//!   (SQLMesh leaves the extra parameters as column names).
//! * `@EVAL` also computes `||` and `LENGTH` (SQLMesh's Python executor lacks them).
//! * The output is the expansion, not SQLMesh's optimized query: columns are not qualified,
//!   `SELECT *` is not expanded, constants are not folded.
//!
//! Values known only when the model runs: without [`MacroContext::times`], time variables
//! are left as `@start_ds` & co. for the run-time renderer (and reported in
//! [`Expanded::deferred`]); without [`MacroContext::this_model`], so is `@this_model`. A
//! macro that must compute with such a value (a condition, an identifier) fails with
//! [`MacroErrorKind::NeedsRunTime`]. Projects are expanded once, when they load
//! ([`expand_for_load`]): there Jinja blocks print placeholders for these values, which the
//! run-time renderer fills in, and a block that computes with them is refused.

mod builtins;
mod eval;
mod expander;
mod generators;
mod jinja;
mod lexer;
mod load;
mod names;
mod pyvalues;
mod time;
mod value;
mod variables;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Prefix of the identifiers that stand in for macro variables while a query is parsed (and
/// for run-time values in expanded text until the run fills them in).
pub(crate) const MACRO_PREFIX: &str = "__sluice_macro__";

pub use jinja::render_config;
pub use load::{
    called_macros, expand_for_load, is_run_time_variable, python_macro_names, time_values,
    uses_macros,
};

use crate::model::{Dialect, ModelKind};
use expander::{Expander, line_col};
use lexer::{Kind, Tok, lex, split_at_depth0, split_commas, trim};

/// A relation's columns (name, SQL type) in order, for `@STAR` and `@UNION`; `None` when
/// unknown. `relation` is the name as written, unquoted and with unquoted parts lower-cased
/// (`mc.src_foo`).
pub trait Columns {
    fn columns(&self, relation: &str) -> Option<Vec<(String, String)>>;
}

impl<F: Fn(&str) -> Option<Vec<(String, String)>>> Columns for F {
    fn columns(&self, relation: &str) -> Option<Vec<(String, String)>> {
        self(relation)
    }
}

/// The interval a model run covers, in epoch milliseconds: `[start, end)`, run at
/// `execution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: i64,
    pub end: i64,
    pub execution: i64,
}

/// SQLMesh's `@runtime_stage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuntimeStage {
    #[default]
    Loading,
    Creating,
    Evaluating,
    Promoting,
    Auditing,
    Testing,
}

impl RuntimeStage {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeStage::Loading => "loading",
            RuntimeStage::Creating => "creating",
            RuntimeStage::Evaluating => "evaluating",
            RuntimeStage::Promoting => "promoting",
            RuntimeStage::Auditing => "auditing",
            RuntimeStage::Testing => "testing",
        }
    }
}

/// A file of Jinja macros (`macros/*.sql`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JinjaMacros {
    /// For messages, e.g. `macros/utils.sql`.
    pub path: String,
    pub source: String,
}

/// Everything a model's macros can see.
pub struct MacroContext<'a> {
    pub dialect: Dialect,
    pub model_name: String,
    pub kind: ModelKind,
    /// `variables:` of config.yaml (after [`render_config`]).
    pub variables: BTreeMap<String, serde_json::Value>,
    /// The gateway's `variables:`; they win over `variables`.
    pub gateway_variables: BTreeMap<String, serde_json::Value>,
    /// The model's blueprint variables, as SQL text (`field := a` → `"field": "a"`).
    pub blueprint_variables: BTreeMap<String, String>,
    /// The gateway's name (`@gateway`).
    pub gateway: Option<String>,
    /// The SQL of the model's physical table (`@this_model`), when known.
    pub this_model: Option<String>,
    /// The run's interval, when known.
    pub times: Option<TimeRange>,
    pub runtime_stage: RuntimeStage,
    /// Columns of relations, for `@STAR` and `@UNION`.
    pub columns: Option<&'a dyn Columns>,
    /// Names of the project's Python macros (from `macros/*.py`).
    pub python_macros: BTreeSet<String>,
    pub jinja_macros: Vec<JinjaMacros>,
    /// Without [`MacroContext::times`] or [`MacroContext::this_model`], Jinja blocks print
    /// placeholders for them that the run-time renderer fills in (see [`expand_for_load`]),
    /// instead of failing.
    pub placeholders: bool,
}

impl<'a> MacroContext<'a> {
    /// A context with no variables, no known values and no project macros.
    pub fn new(model_name: &str, kind: ModelKind, dialect: Dialect) -> MacroContext<'a> {
        MacroContext {
            dialect,
            model_name: model_name.to_string(),
            kind,
            variables: BTreeMap::new(),
            gateway_variables: BTreeMap::new(),
            blueprint_variables: BTreeMap::new(),
            gateway: None,
            this_model: None,
            times: None,
            runtime_stage: RuntimeStage::Loading,
            columns: None,
            python_macros: BTreeSet::new(),
            jinja_macros: Vec::new(),
            placeholders: false,
        }
    }

    fn is_python_macro(&self, name: &str) -> bool {
        self.python_macros
            .iter()
            .any(|m| m.eq_ignore_ascii_case(name))
    }
}

/// What kind of problem a [`MacroError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacroErrorKind {
    /// `@foo(...)` that is no built-in, `@DEF` function or Python macro.
    UnknownFunction,
    /// `@foo` that is no `@DEF`, variable or predefined variable.
    UnknownVariable,
    /// A call to one of the project's Python macros.
    PythonMacro,
    /// A value known only at run time (times, `@this_model`) is needed to expand.
    NeedsRunTime,
    /// `@STAR`/`@UNION` need a relation's columns, which the caller does not know.
    MissingColumns,
    /// A macro called with arguments it does not take.
    InvalidArguments,
    /// A condition or `@EVAL` that cannot be computed.
    Evaluation,
    /// Jinja failed to parse or render.
    Jinja,
    /// Malformed macro syntax.
    Syntax,
}

/// A problem with one macro, located in the model text (or in a Jinja macro file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroError {
    /// 1-based, in the text given to [`expand`] (or in `file`).
    pub line: usize,
    pub column: usize,
    /// Set when the problem is in a Jinja macro file rather than the model text.
    pub file: Option<String>,
    /// What failed, as written: `@EACH`, `@foo`, `{{ var('x') }}`.
    pub construct: String,
    pub kind: MacroErrorKind,
    pub message: String,
}

impl fmt::Display for MacroError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}:")?;
        }
        write!(
            f,
            "{}:{}: {}: {}",
            self.line, self.column, self.construct, self.message
        )
    }
}

impl std::error::Error for MacroError {}

/// One statement of the expanded text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandedStatement {
    /// The statement without its `;`, trimmed.
    pub sql: String,
    /// Line in the original text where it starts.
    pub line: usize,
    /// Whether it is the model query (the others are pre/post statements).
    pub is_query: bool,
}

/// A model's text with its macros expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded {
    /// The whole text: `@DEF`s removed, everything else in place.
    pub sql: String,
    pub statements: Vec<ExpandedStatement>,
    /// Project, gateway and blueprint variables read (lower-cased): a query's meaning
    /// depends on their values.
    pub variables: BTreeSet<String>,
    /// Predefined variables left as `@name` for run time (`start_ds`, `this_model`, ...).
    pub deferred: BTreeSet<String>,
}

impl Expanded {
    /// The model query, if there is one.
    pub fn query(&self) -> Option<&ExpandedStatement> {
        self.statements.iter().find(|s| s.is_query)
    }
}

/// Expands the macros and Jinja of a model's text (everything after `MODEL (...);`).
/// Reports every error found, not only the first.
pub fn expand(sql: &str, ctx: &MacroContext) -> Result<Expanded, Vec<MacroError>> {
    let mut errors = Vec::new();
    let mut toks: Vec<Tok> = Vec::new();
    let mut query_blocks = BTreeSet::new();
    let mut jinja_variables = BTreeSet::new();
    for piece in jinja::split_blocks(sql, &mut errors) {
        let Some((kind, marker)) = piece.jinja else {
            toks.extend(lex(piece.text).into_iter().map(|mut t| {
                t.pos += piece.origin;
                t
            }));
            continue;
        };
        match jinja::render_block(ctx, sql, &piece, kind) {
            Ok(rendered) => {
                toks.extend(value::at(lex(&rendered.text), marker));
                if kind == jinja::BlockKind::Query {
                    query_blocks.insert(marker);
                }
                jinja_variables.extend(rendered.variables);
            }
            Err(e) => errors.push(e),
        }
    }

    let mut x = Expander::new(ctx, sql);
    let statements = split_at_depth0(&toks, |t| t.is_punct(";"));
    let mut is_def = vec![false; statements.len()];
    for (n, stmt) in statements.iter().enumerate() {
        if let [call, rest @ ..] = trim(stmt)
            && call.kind == Kind::Call
            && call.macro_name().eq_ignore_ascii_case("def")
        {
            is_def[n] = true;
            define(&mut x, call, rest);
        }
    }
    let query = statements.iter().enumerate().position(|(n, stmt)| {
        !is_def[n]
            && trim(stmt).first().is_some_and(|t| {
                query_blocks.contains(&t.pos)
                    || ["SELECT", "WITH", "FROM", "VALUES"]
                        .iter()
                        .any(|w| t.is_word(w))
                    || t.is_punct("(")
                    || (t.kind == Kind::Call && t.macro_name().eq_ignore_ascii_case("with"))
            })
    });

    let mut out = String::new();
    let mut expanded = Vec::new();
    let count = statements.len();
    for (n, stmt) in statements.into_iter().enumerate() {
        let separator = if n + 1 < count { ";" } else { "" };
        if is_def[n] {
            continue;
        }
        x.in_query = query == Some(n);
        let Ok(result) = x.expand_seq(stmt, &Vec::new()) else {
            continue;
        };
        let text = lexer::text(&result);
        let first = trim(stmt).first();
        if first.is_some() && trim(&result).is_empty() {
            continue; // a statement-level `@IF` that was false
        }
        out.push_str(&text);
        out.push_str(separator);
        if let Some(first) = first {
            expanded.push(ExpandedStatement {
                sql: lexer::text(trim(&result)),
                line: line_col(sql, first.pos).0,
                is_query: x.in_query,
            });
        }
    }
    errors.append(&mut x.errors);
    if !errors.is_empty() {
        errors.sort_by_key(|e| (e.file.clone(), e.line, e.column));
        return Err(errors);
    }
    let mut variables = x.variables;
    variables.extend(jinja_variables);
    Ok(Expanded {
        sql: out,
        statements: expanded,
        variables,
        deferred: x.deferred,
    })
}

/// `@DEF(name, value)`: records the definition.
fn define(x: &mut Expander, call: &Tok, rest: &[Tok]) {
    let inner = match rest.iter().position(|t| !t.is_trivia()) {
        Some(open) if rest[open].is_punct("(") => match lexer::matching(rest, open) {
            Some(close) if trim(&rest[close + 1..]).is_empty() => &rest[open + 1..close],
            _ => &[][..],
        },
        _ => &[][..],
    };
    let parts = split_commas(inner);
    let name = match parts.first().map(|p| trim(p)) {
        Some([name]) if name.kind == Kind::Word && parts.len() == 2 => name.text.to_lowercase(),
        _ => {
            x.fail(
                call.pos,
                "@DEF",
                MacroErrorKind::Syntax,
                "takes a name and a value: @DEF(name, value);",
            );
            return;
        }
    };
    if let Ok(value) = x.arg_value(parts[1], &Vec::new()) {
        x.defs.insert(name, value);
    }
}
