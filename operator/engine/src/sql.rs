//! SQL analysis of model queries: parsing to a canonical form, finding dependencies, and
//! rendering a query against concrete physical tables and time ranges.
//!
//! Macro variables (`@start_ds`, `@this_model`, ...) are swapped for placeholder identifiers
//! before parsing, so a query with macros is still ordinary SQL to the parser; rendering puts
//! literal values in their place. Unquoted identifiers and keywords are lower-cased before
//! parsing and comments are dropped, so formatting never changes the canonical text.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlparser::ast::{
    Expr, Ident, ObjectName, ObjectNamePart, Query, SelectItem, SetExpr, Statement, VisitMut,
    VisitorMut, visit_expressions, visit_relations, visit_relations_mut,
};
use sqlparser::dialect::{
    DatabricksDialect, Dialect as SqlDialect, DuckDbDialect, PostgreSqlDialect,
};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

use crate::model::Dialect;

use crate::macros::MACRO_PREFIX;

/// The macro variables a model query may use (besides `@this_model`).
pub const TIME_MACROS: &[&str] = &[
    "start_ds",
    "end_ds",
    "start_date",
    "end_date",
    "start_ts",
    "end_ts",
    "start_dt",
    "end_dt",
    "start_epoch",
    "end_epoch",
    "start_millis",
    "end_millis",
    "execution_ds",
    "execution_date",
    "execution_ts",
    "execution_dt",
    "execution_epoch",
    "execution_millis",
];

/// A SQL error with its position in the model file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct SqlError {
    /// 1-based line in the file (already offset by where the query starts).
    pub line: usize,
    pub message: String,
}

/// What the engine keeps of a parsed model query: its canonical form and what it reads. The
/// syntax tree itself is large, so it is not kept: [`parse_query_ast`] gives it to the few
/// places that need it (categorizing a direct change, rendering).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedQuery {
    /// The canonical text: the AST printed back. Formatting, comments, keyword and
    /// identifier case never change it.
    pub canonical: String,
    /// Tables the query reads, lower-cased and dot-joined (`raw.orders`), CTE names excluded.
    pub tables: BTreeSet<String>,
    /// Macro variables used, without the `@`.
    pub macros: BTreeSet<String>,
}

pub(crate) fn sql_dialect(dialect: Dialect) -> Box<dyn SqlDialect> {
    match dialect {
        Dialect::Duckdb => Box::new(DuckDbDialect {}),
        Dialect::Postgres => Box::new(PostgreSqlDialect {}),
        Dialect::Spark => Box::new(DatabricksDialect {}),
    }
}

/// Replaces `@name` macro references outside string literals, quoted identifiers and comments
/// with placeholder identifiers, returning the names found.
fn replace_macros(sql: &str) -> (String, BTreeSet<String>) {
    let mut out = String::with_capacity(sql.len() + 32);
    let mut found = BTreeSet::new();
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\'' | '"' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&d| d == c)
                    .map(|p| i + 1 + p)
                    .unwrap_or(chars.len() - 1);
                out.extend(&chars[i..=end]);
                i = end + 1;
            }
            '-' if next == Some('-') => {
                let end = chars[i..]
                    .iter()
                    .position(|&d| d == '\n')
                    .map(|p| i + p)
                    .unwrap_or(chars.len());
                out.extend(&chars[i..end]);
                i = end;
            }
            '/' if next == Some('*') => {
                let end = (i + 2..chars.len().saturating_sub(1))
                    .find(|&j| chars[j] == '*' && chars[j + 1] == '/')
                    .map(|j| j + 2)
                    .unwrap_or(chars.len());
                out.extend(&chars[i..end]);
                i = end;
            }
            '@' if next.is_some_and(|n| n.is_ascii_alphabetic() || n == '_') => {
                let end = (i + 1..chars.len())
                    .find(|&j| !(chars[j].is_ascii_alphanumeric() || chars[j] == '_'))
                    .unwrap_or(chars.len());
                let name: String = chars[i + 1..end]
                    .iter()
                    .collect::<String>()
                    .to_ascii_lowercase();
                out.push_str(MACRO_PREFIX);
                out.push_str(&name);
                found.insert(name);
                i = end;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    (out, found)
}

/// Adds `first_line - 1` to the `Line: N` position sqlparser reports.
fn offset_error(message: &str, first_line: usize) -> SqlError {
    let line = message
        .split("Line: ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1);
    let line = line + first_line.saturating_sub(1);
    let message = message.trim_start_matches("sql parser error: ");
    let message = match message.find(" at Line: ") {
        Some(pos) => &message[..pos],
        None => message,
    };
    SqlError {
        line,
        message: message.to_string(),
    }
}

/// Parses a model query (a single SELECT, WITH or VALUES statement, optionally ending in `;`).
/// `first_line` is where the query starts in its file, so errors point at the right line.
pub fn parse_query(
    sql: &str,
    dialect: Dialect,
    first_line: usize,
) -> Result<ParsedQuery, SqlError> {
    parse_query_ast(sql, dialect, first_line).map(|(_, parsed)| parsed)
}

/// Earlier parses of queries, looked up by text and dialect. Parsing is a function of those
/// two alone, so a query whose text has not changed since the last run need not be parsed again
/// (at 10,000 models parsing is most of what a plan computes). Failed parses are never kept.
#[derive(Debug, Default)]
pub struct ParsedQueries {
    earlier: HashMap<String, ParsedQuery>,
    parsed: usize,
}

impl ParsedQueries {
    pub fn new(earlier: HashMap<String, ParsedQuery>) -> ParsedQueries {
        ParsedQueries { earlier, parsed: 0 }
    }

    /// [`parse_query`], unless the same text was parsed before.
    pub fn parse(
        &mut self,
        sql: &str,
        dialect: Dialect,
        first_line: usize,
    ) -> Result<ParsedQuery, SqlError> {
        // Nothing to look up on a first run: spare hashing every query.
        let known = if self.earlier.is_empty() {
            None
        } else {
            self.earlier.remove(&query_key(sql, dialect))
        };
        match known {
            Some(known) => Ok(known),
            None => {
                self.parsed += 1;
                parse_query(sql, dialect, first_line)
            }
        }
    }

    /// Whether what was parsed differs from what was known: some query was parsed anew, or
    /// some earlier one was not asked for.
    pub fn changed(&self) -> bool {
        self.parsed > 0 || !self.earlier.is_empty()
    }
}

/// What a parsed query is known by in [`ParsedQueries`]: a hash of its dialect and text.
pub fn query_key(sql: &str, dialect: Dialect) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!("{dialect:?}\0").as_bytes());
    hasher.update(sql.as_bytes());
    hex::encode(&hasher.finalize()[..16])
}

/// [`parse_query`], also returning the syntax tree.
pub fn parse_query_ast(
    sql: &str,
    dialect: Dialect,
    first_line: usize,
) -> Result<(Query, ParsedQuery), SqlError> {
    let (text, macros) = replace_macros(sql);
    let parser_dialect = sql_dialect(dialect);
    let mut tokens = Tokenizer::new(parser_dialect.as_ref(), &text)
        .tokenize_with_location()
        .map_err(|e| offset_error(&e.to_string(), first_line))?;
    // Canonicalize: drop comments, lower-case unquoted words (keywords print upper-case anyway).
    tokens.retain(|t| {
        !matches!(
            t.token,
            Token::Whitespace(
                Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_)
            )
        )
    });
    for t in &mut tokens {
        if let Token::Word(w) = &mut t.token
            && w.quote_style.is_none()
        {
            w.value = w.value.to_ascii_lowercase();
        }
    }
    if dialect == Dialect::Duckdb {
        star_except_as_exclude(&mut tokens);
    }
    let statements = Parser::new(parser_dialect.as_ref())
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(|e| offset_error(&e.to_string(), first_line))?;
    let count = statements.len();
    let query = match statements.into_iter().next() {
        Some(Statement::Query(q)) if count == 1 => *q,
        None => {
            return Err(SqlError {
                line: first_line,
                message: "the model has no query".into(),
            });
        }
        Some(_) if count == 1 => {
            return Err(SqlError {
                line: first_line,
                message: "the model body must be a query (SELECT, WITH ... SELECT or VALUES)"
                    .into(),
            });
        }
        Some(_) => {
            return Err(SqlError {
                line: first_line,
                message: format!("expected one query, found {count} statements"),
            });
        }
    };
    let unknown: Vec<&String> = macros.iter().filter(|m| !is_known_macro(m)).collect();
    if let Some(m) = unknown.first() {
        return Err(SqlError {
            line: first_line,
            message: format!(
                "unknown macro variable @{m} (supported: @this_model, {})",
                TIME_MACROS
                    .iter()
                    .map(|m| format!("@{m}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let parsed = ParsedQuery {
        canonical: query.to_string(),
        tables: referenced_tables(&query),
        macros,
    };
    Ok((query, parsed))
}

/// `SELECT * EXCEPT (col)` (BigQuery's spelling, which SQLMesh reads in every dialect) is
/// DuckDB's `* EXCLUDE (col)`.
fn star_except_as_exclude(tokens: &mut [sqlparser::tokenizer::TokenWithSpan]) {
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    for pair in significant.windows(3) {
        let [star, word, open] = [pair[0], pair[1], pair[2]];
        let is_except = matches!(&tokens[word].token, Token::Word(w) if w.quote_style.is_none() && w.value == "except");
        if matches!(tokens[star].token, Token::Mul)
            && is_except
            && matches!(tokens[open].token, Token::LParen)
            && let Token::Word(w) = &mut tokens[word].token
        {
            w.value = "exclude".into();
            w.keyword = sqlparser::keywords::Keyword::EXCLUDE;
        }
    }
}

fn is_known_macro(name: &str) -> bool {
    crate::macros::is_run_time_variable(name)
}

/// Lower-cased dotted name of an object (`Raw.Orders` → `raw.orders`; quoted parts kept).
pub fn object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(ident) if ident.quote_style.is_none() => {
                ident.value.to_ascii_lowercase()
            }
            ObjectNamePart::Identifier(ident) => ident.value.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn cte_names(query: &Query, out: &mut BTreeSet<String>) {
    if let Some(with) = &query.with {
        for cte in &with.cte_tables {
            out.insert(cte.alias.name.value.to_ascii_lowercase());
        }
    }
    let _ = visit_expressions(query, |expr: &Expr| {
        if let Expr::Subquery(q)
        | Expr::Exists { subquery: q, .. }
        | Expr::InSubquery { subquery: q, .. } = expr
        {
            cte_names(q, out);
        }
        ControlFlow::<()>::Continue(())
    });
    collect_nested_ctes(&query.body, out);
}

fn collect_nested_ctes(body: &SetExpr, out: &mut BTreeSet<String>) {
    match body {
        SetExpr::Query(q) => cte_names(q, out),
        SetExpr::SetOperation { left, right, .. } => {
            collect_nested_ctes(left, out);
            collect_nested_ctes(right, out);
        }
        SetExpr::Select(select) => {
            for from in &select.from {
                let factors =
                    std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation));
                for factor in factors {
                    if let sqlparser::ast::TableFactor::Derived { subquery, .. } = factor {
                        cte_names(subquery, out);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Tables read by the query: every relation name that is not a CTE defined in the query.
fn referenced_tables(query: &Query) -> BTreeSet<String> {
    let mut ctes = BTreeSet::new();
    cte_names(query, &mut ctes);
    let mut tables = BTreeSet::new();
    let _ = visit_relations(query, |name: &ObjectName| {
        let n = object_name(name);
        let is_cte = name.0.len() == 1 && ctes.contains(&n);
        if !is_cte && !n.starts_with(MACRO_PREFIX) {
            tables.insert(n);
        }
        ControlFlow::<()>::Continue(())
    });
    tables
}

/// Values substituted for macro variables when a query is rendered.
#[derive(Debug, Clone, Default)]
pub struct MacroValues {
    values: BTreeMap<String, String>,
}

impl MacroValues {
    /// Time macros for the half-open interval `[start, end)` run at `execution` (all epoch
    /// ms). Like SQLMesh, `end` variables are inclusive: the last day / last microsecond.
    pub fn for_interval(start: i64, end: i64, execution: i64) -> MacroValues {
        let mut values = BTreeMap::new();
        let mut put = |prefix: &str, ms: i64, inclusive_end: bool| {
            let t = crate::intervals::to_datetime(if inclusive_end { ms - 1 } else { ms });
            let date = t.format("%Y-%m-%d").to_string();
            let ts = if inclusive_end {
                (crate::intervals::to_datetime(ms) - chrono::Duration::microseconds(1))
                    .format("%Y-%m-%d %H:%M:%S%.6f")
                    .to_string()
            } else {
                t.format("%Y-%m-%d %H:%M:%S").to_string()
            };
            let millis = if inclusive_end { ms - 1 } else { ms };
            values.insert(format!("{prefix}_ds"), format!("'{date}'"));
            values.insert(format!("{prefix}_date"), format!("CAST('{date}' AS DATE)"));
            values.insert(format!("{prefix}_ts"), format!("'{ts}'"));
            values.insert(format!("{prefix}_dt"), format!("CAST('{ts}' AS TIMESTAMP)"));
            values.insert(
                format!("{prefix}_epoch"),
                format!("{}", millis as f64 / 1000.0),
            );
            values.insert(format!("{prefix}_millis"), millis.to_string());
        };
        put("start", start, false);
        put("end", end, true);
        put("execution", execution, false);
        // The other time variables of SQLMesh (`@start_tstz`, `@end_hour`, `@latest_ds`, ...)
        // and what Jinja blocks print for each (`__jinja` placeholders, see `macros`).
        let times = crate::macros::TimeRange {
            start,
            end,
            execution,
        };
        for (name, value) in crate::macros::time_values(times) {
            values.entry(name).or_insert(value);
        }
        MacroValues { values }
    }

    /// Fills the macro variables of SQL text that was not parsed (an audit query): time
    /// variables and `@this_model`; other `@names` are left as they are.
    pub fn apply(&self, sql: &str) -> String {
        let (text, _) = replace_macros(sql);
        substitute_placeholders(&text, self)
    }

    pub fn with_this_model(mut self, table_sql: &str) -> MacroValues {
        self.values
            .insert("this_model".into(), table_sql.to_string());
        self
    }
}

/// Renders a query for execution: relation names found in `tables` (lower-cased dotted model
/// name → SQL to put in its place) are replaced, and macro placeholders get their values.
pub fn render(query: &Query, tables: &BTreeMap<String, String>, macros: &MacroValues) -> String {
    let mut query = query.clone();
    let _ = visit_relations_mut(&mut query, |name: &mut ObjectName| {
        if let Some(replacement) = tables.get(&object_name(name)) {
            *name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(
                replacement.clone(),
            ))]);
        }
        ControlFlow::<()>::Continue(())
    });
    name_cast_columns(&mut query);
    substitute_placeholders(&query.to_string(), macros)
}

/// Names each unnamed `CAST(column AS type)` (or `column::type`) projection after its column,
/// in every SELECT of `query`, as SQLMesh does: `SELECT id::INT FROM raw.items` makes a column
/// `id`, where DuckDB alone would name it `CAST(id AS INTEGER)`.
fn name_cast_columns(query: &mut Query) {
    struct Names;
    impl VisitorMut for Names {
        type Break = ();
        fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            name_casts_in(&mut query.body);
            ControlFlow::Continue(())
        }
    }
    let _ = query.visit(&mut Names);
}

fn name_casts_in(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            // Only where the name is the projection's alone: `a.id::INT, b.id::INT` keeps
            // DuckDB's distinct names rather than make two columns `id`.
            let name_of = |item: &SelectItem| match item {
                SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_lowercase()),
                SelectItem::UnnamedExpr(Expr::Identifier(ident)) => {
                    Some(ident.value.to_lowercase())
                }
                SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
                    parts.last().map(|p| p.value.to_lowercase())
                }
                SelectItem::UnnamedExpr(expr) => cast_column(expr).map(|c| c.value.to_lowercase()),
                _ => None,
            };
            let names: Vec<Option<String>> = select.projection.iter().map(name_of).collect();
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(expr) = item
                    && let Some(column) = cast_column(expr)
                    && names
                        .iter()
                        .filter(|n| n.as_deref() == Some(column.value.to_lowercase().as_str()))
                        .count()
                        == 1
                {
                    *item = SelectItem::ExprWithAlias {
                        expr: expr.clone(),
                        alias: column,
                    };
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            name_casts_in(left);
            name_casts_in(right);
        }
        _ => {}
    }
}

/// The column a cast (of a cast ...) of a plain column reads.
fn cast_column(expr: &Expr) -> Option<Ident> {
    match expr {
        Expr::Cast { expr, .. } => cast_column_inner(expr),
        _ => None,
    }
}

fn cast_column_inner(expr: &Expr) -> Option<Ident> {
    match expr {
        Expr::Identifier(ident) => Some(ident.clone()),
        Expr::CompoundIdentifier(parts) => parts.last().cloned(),
        Expr::Cast { expr, .. } | Expr::Nested(expr) => cast_column_inner(expr),
        _ => None,
    }
}

/// Replaces each placeholder with its macro value (unknown ones are left, and fail in SQL).
fn substitute_placeholders(sql: &str, macros: &MacroValues) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(pos) = rest.find(MACRO_PREFIX) {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + MACRO_PREFIX.len()..];
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let mut name = &after[..len];
        // A Jinja placeholder printed right before more word characters (`{{ start_ds }}_x`).
        if !macros.values.contains_key(name)
            && let Some(end) = name.find("__jinja")
        {
            name = &name[..end + "__jinja".len()];
        }
        match macros.values.get(name) {
            Some(v) => out.push_str(v),
            None => {
                out.push('@');
                out.push_str(name);
            }
        }
        rest = &after[name.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> ParsedQuery {
        parse_query(sql, Dialect::Duckdb, 1).unwrap()
    }

    #[test]
    fn earlier_parses_are_reused_only_for_the_same_text_and_dialect() {
        let sql = "SELECT id FROM raw.orders";
        let mut known = HashMap::new();
        // A planted entry: returned only if the cache is consulted for exactly this key.
        let planted = parse("SELECT 1 AS planted");
        known.insert(query_key(sql, Dialect::Duckdb), planted.clone());
        let mut parsed = ParsedQueries::new(known);
        assert_eq!(parsed.parse(sql, Dialect::Duckdb, 1).unwrap(), planted);
        assert!(
            !parsed.changed(),
            "everything known was used, nothing parsed"
        );
        assert_eq!(
            parsed.parse(sql, Dialect::Postgres, 1).unwrap(),
            parse_query(sql, Dialect::Postgres, 1).unwrap()
        );
        assert_eq!(
            parsed
                .parse("SELECT id FROM raw.orders ", Dialect::Duckdb, 1)
                .unwrap()
                .tables
                .len(),
            1
        );
        assert!(parsed.changed());
        let mut stale = ParsedQueries::new(HashMap::from([("unused".to_string(), planted)]));
        stale.parse(sql, Dialect::Duckdb, 1).unwrap();
        assert!(
            stale.changed(),
            "an entry no longer asked for is dropped on save"
        );
        assert!(
            stale
                .parse("SELECT FROM WHERE", Dialect::Duckdb, 3)
                .is_err()
        );
    }

    #[test]
    fn formatting_comments_and_case_do_not_change_the_canonical_text() {
        let a = parse("SELECT id, amount FROM raw.orders WHERE amount > 0");
        let b = parse(
            "-- the orders\nselect   ID,\n  /* money */ Amount\nFROM Raw.Orders\nwhere amount>0;",
        );
        assert_eq!(a.canonical, b.canonical);
        let c = parse("SELECT id, amount FROM raw.orders WHERE amount > 1");
        assert_ne!(a.canonical, c.canonical);
    }

    #[test]
    fn quoted_identifiers_keep_their_case() {
        let a = parse(r#"SELECT "Id" FROM raw.orders"#);
        let b = parse(r#"SELECT "id" FROM raw.orders"#);
        assert_ne!(a.canonical, b.canonical);
    }

    #[test]
    fn dependencies_exclude_ctes_and_include_joins_and_subqueries() {
        let q = parse(
            "WITH recent AS (SELECT * FROM stg.orders WHERE d > @start_ds)
             SELECT r.id, c.name FROM recent r JOIN stg.customers c ON r.cid = c.id
             WHERE r.id IN (SELECT id FROM raw.flags)",
        );
        let tables: Vec<&str> = q.tables.iter().map(String::as_str).collect();
        assert_eq!(tables, ["raw.flags", "stg.customers", "stg.orders"]);
        assert!(q.macros.contains("start_ds"));
    }

    #[test]
    fn errors_point_at_the_file_line() {
        let e = parse_query("SELECT id\nFROM t\nWHERE x = = 1", Dialect::Duckdb, 5).unwrap_err();
        assert_eq!(e.line, 7, "{e}");
        let e = parse_query("CREATE TABLE x (a INT)", Dialect::Duckdb, 3).unwrap_err();
        assert!(e.message.contains("must be a query"), "{e}");
        let e = parse_query("SELECT @nonsense", Dialect::Duckdb, 1).unwrap_err();
        assert!(e.message.contains("@nonsense"), "{e}");
    }

    #[test]
    fn render_replaces_models_and_macros() {
        let (q, _) = parse_query_ast(
            "SELECT * FROM stg.orders o WHERE o.d BETWEEN @start_ds AND @end_ds AND '@start_ds' <> ''",
            Dialect::Duckdb,
            1,
        )
        .unwrap();
        let mut tables = BTreeMap::new();
        tables.insert(
            "stg.orders".to_string(),
            "\"sluice__stg\".\"stg__orders__abc\"".to_string(),
        );
        let day = 86_400_000;
        let start = crate::intervals::parse_time("2024-01-01", 0).unwrap().0;
        let sql = render(
            &q,
            &tables,
            &MacroValues::for_interval(start, start + 3 * day, start),
        );
        assert_eq!(
            sql,
            "SELECT * FROM \"sluice__stg\".\"stg__orders__abc\" o WHERE o.d BETWEEN '2024-01-01' AND '2024-01-03' AND '@start_ds' <> ''"
        );
    }

    #[test]
    fn star_except_is_read_as_duckdb_exclude() {
        let (q, _) = parse_query_ast(
            "SELECT * EXCEPT (dup), t.* except(a) FROM t",
            Dialect::Duckdb,
            1,
        )
        .unwrap();
        assert_eq!(
            q.to_string(),
            "SELECT * EXCLUDE (dup), t.* EXCLUDE (a) FROM t"
        );
        let (q, _) = parse_query_ast(
            "SELECT * FROM t EXCEPT (SELECT * FROM u)",
            Dialect::Duckdb,
            1,
        )
        .unwrap();
        assert_eq!(q.to_string(), "SELECT * FROM t EXCEPT (SELECT * FROM u)");
    }

    #[test]
    fn a_cast_column_keeps_its_name_as_in_sqlmesh() {
        let (q, _) = parse_query_ast(
            "WITH t AS (SELECT o.id::INT, CAST(ds AS TEXT) FROM raw.o AS o) \
             SELECT id::BIGINT, ds, CAST(id AS TEXT) AS label, id + 1 FROM t \
             UNION ALL SELECT 1::BIGINT, '', '', 2",
            Dialect::Duckdb,
            1,
        )
        .unwrap();
        let sql = render(&q, &BTreeMap::new(), &MacroValues::default());
        assert_eq!(
            sql,
            "WITH t AS (SELECT o.id::INT AS id, CAST(ds AS TEXT) AS ds FROM raw.o AS o) \
             SELECT id::BIGINT AS id, ds, CAST(id AS TEXT) AS label, id + 1 FROM t \
             UNION ALL SELECT 1::BIGINT, '', '', 2"
        );
        // A name two projections would share is left to the warehouse.
        let (q, _) = parse_query_ast(
            "SELECT a.id::INT, b.id::INT, c.v::INT FROM a, b, c",
            Dialect::Duckdb,
            1,
        )
        .unwrap();
        assert_eq!(
            render(&q, &BTreeMap::new(), &MacroValues::default()),
            "SELECT a.id::INT, b.id::INT, c.v::INT AS v FROM a, b, c"
        );
    }

    #[test]
    fn end_ts_is_the_last_microsecond() {
        let start = crate::intervals::parse_time("2024-01-01", 0).unwrap().0;
        let m = MacroValues::for_interval(start, start + 3_600_000, start);
        assert_eq!(m.values["end_ts"], "'2024-01-01 00:59:59.999999'");
        assert_eq!(m.values["start_date"], "CAST('2024-01-01' AS DATE)");
    }
}
