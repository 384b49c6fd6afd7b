//! Rendering audits into SQL that returns the violating rows: an audit passes when its query
//! returns no rows.
//!
//! Built-in audits follow SQLMesh's definitions (`sqlmesh/core/audit/builtin.py`) row for row,
//! written so that the same text runs on DuckDB and PostgreSQL (derived tables are always
//! aliased, regular expressions only use anchored patterns with `~`).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{AuditArg, AuditCall, CustomAudit, Model};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("unknown audit '{name}': not a built-in audit and not defined in audits/")]
    UnknownAudit { name: String },
    #[error("audit '{audit}' needs argument '{argument}'")]
    MissingArgument { audit: String, argument: String },
    #[error("audit '{audit}', argument '{argument}': {message}")]
    InvalidArgument {
        audit: String,
        argument: String,
        message: String,
    },
}

/// Built-in audits we render. SQLMesh's statistical ones (kl_divergence, chi_square) and those
/// whose regular expressions are not anchored (match_regex_pattern_list, ...) are left out:
/// DuckDB and PostgreSQL disagree on unanchored matching.
pub const BUILT_IN_AUDITS: &[&str] = &[
    "accepted_range",
    "accepted_values",
    "at_least_one",
    "forall",
    "match_like_pattern_list",
    "mean_in_range",
    "not_accepted_values",
    "not_constant",
    "not_empty_string",
    "not_match_like_pattern_list",
    "not_null",
    "not_null_proportion",
    "number_of_rows",
    "sequential_values",
    "stddev_in_range",
    "string_length_between",
    "string_length_equal",
    "unique_combination_of_columns",
    "unique_values",
    "valid_email",
    "valid_http_method",
    "valid_url",
    "valid_uuid",
    "z_score",
];

/// Whether a failing audit blocks promotion: an explicit `blocking := false` argument wins,
/// then a `_non_blocking` name, then the custom audit's own `blocking` setting.
pub fn is_blocking(call: &AuditCall, custom: &BTreeMap<String, CustomAudit>) -> bool {
    if let Some(arg) = call.args.get("blocking") {
        return !matches!(arg_text(arg).to_ascii_lowercase().as_str(), "false" | "0");
    }
    if !call.blocking() {
        return false;
    }
    custom.get(call.base_name()).is_none_or(|a| a.blocking)
}

/// The relations `model`'s custom audits read besides the model itself (lower-cased names):
/// an audit such as `SELECT ... FROM @this_model LEFT JOIN omop.person ...` needs
/// `omop.person` built first, and reads this run's table of it.
pub fn audit_reads(model: &Model, custom: &BTreeMap<String, CustomAudit>) -> BTreeSet<String> {
    let own = crate::model::model_key(&model.name);
    model
        .audits
        .iter()
        .filter_map(|call| custom.get(call.base_name()))
        .filter_map(|audit| crate::sql::parse_query(&audit.query, model.dialect, 1).ok())
        .flat_map(|parsed| parsed.tables)
        .filter(|table| *table != own)
        .collect()
}

/// Renders `call` against `this_model` (a table name or an aliased subquery), returning SQL
/// that selects the violating rows. Custom audits take precedence over built-ins of the same
/// name, as in SQLMesh.
pub fn render_audit(
    call: &AuditCall,
    custom: &BTreeMap<String, CustomAudit>,
    this_model: &str,
) -> Result<String, AuditError> {
    let name = call.base_name();
    if let Some(audit) = custom.get(name) {
        return render_custom(audit, call, this_model);
    }
    Builtin {
        call,
        name,
        model: this_model,
    }
    .render()
}

fn arg_text(arg: &AuditArg) -> String {
    match arg {
        AuditArg::Scalar(s) => s.clone(),
        AuditArg::List(items) => items.join(", "),
    }
}

/// A built-in audit being rendered, with typed access to its arguments.
struct Builtin<'a> {
    call: &'a AuditCall,
    name: &'a str,
    model: &'a str,
}

impl Builtin<'_> {
    fn missing(&self, argument: &str) -> AuditError {
        AuditError::MissingArgument {
            audit: self.name.to_string(),
            argument: argument.to_string(),
        }
    }

    fn invalid(&self, argument: &str, message: &str) -> AuditError {
        AuditError::InvalidArgument {
            audit: self.name.to_string(),
            argument: argument.to_string(),
            message: message.to_string(),
        }
    }

    /// A single SQL expression; `(x)` written as a one-element list counts as a scalar.
    fn opt_scalar(&self, key: &str) -> Result<Option<String>, AuditError> {
        match self.call.args.get(key) {
            None => Ok(None),
            Some(AuditArg::Scalar(s)) => Ok(Some(s.clone())),
            Some(AuditArg::List(items)) if items.len() == 1 => Ok(Some(items[0].clone())),
            Some(AuditArg::List(_)) => Err(self.invalid(key, "expects a single value, not a list")),
        }
    }

    fn scalar(&self, key: &str) -> Result<String, AuditError> {
        self.opt_scalar(key)?.ok_or_else(|| self.missing(key))
    }

    /// A bound such as `min_v`; SQLMesh treats an explicit NULL as absent.
    fn bound(&self, key: &str) -> Result<Option<String>, AuditError> {
        Ok(self
            .opt_scalar(key)?
            .filter(|v| !v.trim().eq_ignore_ascii_case("null")))
    }

    fn list(&self, key: &str) -> Result<Vec<String>, AuditError> {
        let items = self
            .call
            .args
            .get(key)
            .ok_or_else(|| self.missing(key))?
            .items();
        if items.is_empty() {
            return Err(self.invalid(key, "needs at least one element"));
        }
        Ok(items)
    }

    fn flag(&self, key: &str, default: bool) -> Result<bool, AuditError> {
        match self.opt_scalar(key)? {
            None => Ok(default),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(self.invalid(key, "expects true or false")),
            },
        }
    }

    fn whole_number(&self, key: &str) -> Result<String, AuditError> {
        let value = self.scalar(key)?;
        value
            .trim()
            .parse::<u64>()
            .map(|n| n.to_string())
            .map_err(|_| self.invalid(key, "expects a whole number"))
    }

    /// The optional `condition` filter, as a `WHERE` clause (empty when absent).
    fn where_condition(&self) -> Result<String, AuditError> {
        Ok(match self.opt_scalar("condition")? {
            Some(condition) => format!(" WHERE {condition}"),
            None => String::new(),
        })
    }

    /// `SELECT * FROM model WHERE predicate` restricted by the optional `condition`.
    fn rows_where(&self, predicate: &str) -> Result<String, AuditError> {
        let filter = match self.opt_scalar("condition")? {
            Some(condition) => format!("({predicate}) AND ({condition})"),
            None => predicate.to_string(),
        };
        Ok(format!("SELECT * FROM {} WHERE {filter}", self.model))
    }

    /// The four `min_v`/`max_v`/`inclusive` comparisons SQLMesh's range audits share.
    fn out_of_range(&self, value: &str) -> Result<String, AuditError> {
        let inclusive = self.flag("inclusive", true)?;
        let (below, above) = if inclusive { ("<", ">") } else { ("<=", ">=") };
        let mut checks = Vec::new();
        if let Some(min) = self.bound("min_v")? {
            checks.push(format!("{value} {below} {min}"));
        }
        if let Some(max) = self.bound("max_v")? {
            checks.push(format!("{value} {above} {max}"));
        }
        if checks.is_empty() {
            return Err(self.missing("min_v or max_v"));
        }
        Ok(checks.join(" OR "))
    }

    fn render(&self) -> Result<String, AuditError> {
        let m = self.model;
        let sql = match self.name {
            "not_null" => {
                let columns = self.list("columns")?;
                let checks: Vec<String> =
                    columns.iter().map(|c| format!("{} IS NULL", operand(c))).collect();
                self.rows_where(&checks.join(" OR "))?
            }
            "unique_values" => {
                let columns = self.list("columns")?;
                let ranks: Vec<String> = columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("rank_{}", alias_suffix(c, i)))
                    .collect();
                let windows: Vec<String> = columns
                    .iter()
                    .zip(&ranks)
                    .map(|(c, r)| format!("ROW_NUMBER() OVER (PARTITION BY {c} ORDER BY {c}) AS {r}"))
                    .collect();
                let duplicates: Vec<String> = ranks.iter().map(|r| format!("{r} > 1")).collect();
                format!(
                    "SELECT * FROM (SELECT {} FROM {m}{}) AS audit_ranks WHERE {}",
                    windows.join(", "),
                    self.where_condition()?,
                    duplicates.join(" OR ")
                )
            }
            "accepted_values" | "not_accepted_values" => {
                let column = operand(&self.scalar("column")?);
                let values = self.list("is_in")?.join(", ");
                let negation = if self.name == "accepted_values" { "NOT " } else { "" };
                self.rows_where(&format!("{column} {negation}IN ({values})"))?
            }
            "number_of_rows" => {
                let threshold = self.whole_number("threshold")?;
                format!(
                    "SELECT COUNT(*) FROM (SELECT 1 AS one FROM {m}{} LIMIT {threshold} + 1) \
                     AS audit_limited HAVING COUNT(*) <= {threshold}",
                    self.where_condition()?
                )
            }
            "forall" => {
                let criteria = self.list("criteria")?;
                let failures: Vec<String> = criteria.iter().map(|c| format!("NOT ({c})")).collect();
                self.rows_where(&failures.join(" OR "))?
            }
            "accepted_range" => {
                let column = operand(&self.scalar("column")?);
                self.rows_where(&self.out_of_range(&column)?)?
            }
            "at_least_one" => format!(
                "SELECT 1 AS one FROM {m}{} GROUP BY 1 HAVING COUNT({}) = 0",
                self.where_condition()?,
                self.scalar("column")?
            ),
            "not_constant" => format!(
                "SELECT 1 AS one FROM (SELECT COUNT(DISTINCT {}) AS t_cardinality FROM {m}{}) \
                 AS r WHERE r.t_cardinality <= 1",
                self.scalar("column")?,
                self.where_condition()?
            ),
            "not_empty_string" => {
                self.rows_where(&format!("{} = ''", operand(&self.scalar("column")?)))?
            }
            "not_null_proportion" => {
                let column = self.scalar("column")?;
                format!(
                    "SELECT * FROM (SELECT COUNT(*) AS cnt_tot, COUNT({column}) AS cnt_not_null, \
                     COUNT(*) - COUNT({column}) AS cnt_null FROM {m}{}) AS s \
                     WHERE s.cnt_not_null <= s.cnt_tot * {}",
                    self.where_condition()?,
                    self.scalar("threshold")?
                )
            }
            "sequential_values" => {
                let column = self.scalar("column")?;
                let interval = self.opt_scalar("interval")?.unwrap_or_else(|| "1".into());
                format!(
                    "WITH windowed AS (SELECT {column} AS audit_value, LAG({column}) OVER \
                     (ORDER BY {column}) AS prv FROM {m}{}) SELECT * FROM windowed \
                     WHERE NOT (audit_value = prv + {interval})",
                    self.where_condition()?
                )
            }
            "unique_combination_of_columns" => {
                let columns = self.list("columns")?.join(", ");
                format!(
                    "SELECT {columns} FROM {m}{} GROUP BY {columns} HAVING COUNT(*) > 1",
                    self.where_condition()?
                )
            }
            "string_length_between" => {
                let length = format!("LENGTH({})", self.scalar("column")?);
                self.rows_where(&self.out_of_range(&length)?)?
            }
            "string_length_equal" => self.rows_where(&format!(
                "LENGTH({}) <> {}",
                self.scalar("column")?,
                self.scalar("v")?
            ))?,
            "mean_in_range" | "stddev_in_range" => {
                let column = self.scalar("column")?;
                let (function, prefix) = if self.name == "mean_in_range" {
                    ("AVG", "mean")
                } else {
                    ("STDDEV", "stddev")
                };
                let stat = format!("{prefix}_{}", alias_suffix(&column, 0));
                format!(
                    "SELECT * FROM (SELECT {function}({column}) AS {stat} FROM {m}{}) AS audit_stats \
                     WHERE {}",
                    self.where_condition()?,
                    self.out_of_range(&stat)?
                )
            }
            "z_score" => {
                let column = self.scalar("column")?;
                let z = format!("({column} - audit_mean) / NULLIF(audit_stddev, 0)");
                // As in SQLMesh, `condition` filters the statistics, not the rows checked.
                format!(
                    "WITH audit_stats AS (SELECT AVG({column}) AS audit_mean, STDDEV({column}) \
                     AS audit_stddev FROM {m}{}) SELECT {column}, {z} AS z_score \
                     FROM {m}, audit_stats WHERE ABS({z}) > {}",
                    self.where_condition()?,
                    self.scalar("threshold")?
                )
            }
            "match_like_pattern_list" | "not_match_like_pattern_list" => {
                let column = operand(&self.scalar("column")?);
                let patterns = self.list("patterns")?;
                let predicate = if self.name == "match_like_pattern_list" {
                    let misses: Vec<String> =
                        patterns.iter().map(|p| format!("NOT {column} LIKE {p}")).collect();
                    misses.join(" AND ")
                } else {
                    let hits: Vec<String> =
                        patterns.iter().map(|p| format!("{column} LIKE {p}")).collect();
                    hits.join(" OR ")
                };
                self.rows_where(&predicate)?
            }
            "valid_uuid" => self.rows_where(&format!(
                "NOT LOWER({}) ~ '^[0-9a-f]{{8}}-[0-9a-f]{{4}}-[1-5][0-9a-f]{{3}}-[89ab][0-9a-f]{{3}}-[0-9a-f]{{12}}$'",
                self.scalar("column")?
            ))?,
            "valid_url" => self.rows_where(&format!(
                "NOT {} ~ '^(https?|ftp)://[^\\s/$.?#].[^\\s]*$'",
                operand(&self.scalar("column")?)
            ))?,
            // SQLMesh's `[a-zA-Z0-9-.]` is an invalid range for PostgreSQL; same set, reordered.
            "valid_email" => self.rows_where(&format!(
                "NOT {} ~ '^[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\\.[a-zA-Z0-9.-]+$'",
                operand(&self.scalar("column")?)
            ))?,
            "valid_http_method" => self.rows_where(&format!(
                "{} NOT IN ('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', \
                 'TRACE', 'CONNECT')",
                operand(&self.scalar("column")?)
            ))?,
            _ => {
                return Err(AuditError::UnknownAudit {
                    name: self.call.name.clone(),
                });
            }
        };
        Ok(sql)
    }
}

/// Whether `s` is a plain or quoted identifier, possibly qualified (`t.col`, `"My Col"`).
fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            let quoted = part.len() >= 2 && part.starts_with('"') && part.ends_with('"');
            quoted
                || (part.starts_with(|c: char| c.is_alphabetic() || c == '_')
                    && part.chars().all(|c| c.is_alphanumeric() || c == '_'))
        })
}

/// Parenthesizes an expression used as an operand so that `a || b IS NULL` cannot bind wrong.
fn operand(expr: &str) -> String {
    let expr = expr.trim();
    if is_identifier(expr) {
        expr.to_string()
    } else {
        format!("({expr})")
    }
}

/// A suffix for a generated column alias: the column's own name when it is a plain identifier
/// (`rank_id`, as SQLMesh names it), otherwise its position.
fn alias_suffix(column: &str, index: usize) -> String {
    let column = column.trim();
    if is_identifier(column) && !column.contains(['"', '.']) {
        column.to_ascii_lowercase()
    } else {
        (index + 1).to_string()
    }
}

/// Substitutes `@this_model` and `@arg` / `@{arg}` (call arguments first, then the audit's
/// defaults) outside string literals.
fn render_custom(
    audit: &CustomAudit,
    call: &AuditCall,
    this_model: &str,
) -> Result<String, AuditError> {
    let query = &audit.query;
    let mut out = String::with_capacity(query.len());
    let mut chars = query.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            // Comments are copied as they are: an apostrophe in a comment is not a quote.
            '-' if chars.peek().is_some_and(|&(_, d)| d == '-') => {
                out.push(c);
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek().is_some_and(|&(_, d)| d == '*') => {
                out.push(c);
                let mut previous = ' ';
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if previous == '*' && d == '/' {
                        break;
                    }
                    previous = d;
                }
            }
            '@' => {
                let braced = chars.peek().is_some_and(|&(_, d)| d == '{');
                if braced {
                    chars.next();
                }
                let start = i + 1 + usize::from(braced);
                let mut end = start;
                while let Some(&(j, d)) = chars.peek() {
                    if !(d.is_alphanumeric() || d == '_') {
                        break;
                    }
                    end = j + d.len_utf8();
                    chars.next();
                }
                if braced && chars.next_if(|&(_, d)| d == '}').is_none() {
                    return Err(invalid_custom(
                        audit,
                        &query[start..end],
                        "unterminated @{...}",
                    ));
                }
                let name = query[start..end].to_ascii_lowercase();
                if name.is_empty() {
                    out.push('@');
                    continue;
                }
                if chars.peek().is_some_and(|&(_, d)| d == '(') {
                    return Err(invalid_custom(
                        audit,
                        &name,
                        "macro functions are not supported",
                    ));
                }
                if name == "this_model" {
                    out.push_str(this_model);
                } else if let Some(arg) = call.args.get(&name).or_else(|| audit.defaults.get(&name))
                {
                    // `col NOT IN @values` with a list: SQLMesh writes the list as a tuple.
                    let after_in = out
                        .trim_end()
                        .rsplit(|c: char| !c.is_alphanumeric() && c != '_')
                        .next()
                        .is_some_and(|word| word.eq_ignore_ascii_case("in"));
                    match arg {
                        AuditArg::List(items) if after_in => {
                            out.push_str(&format!("({})", items.join(", ")))
                        }
                        _ => out.push_str(&arg_text(arg)),
                    }
                } else if crate::sql::TIME_MACROS.contains(&name.as_str()) {
                    out.push_str(&query[i..end + usize::from(braced)]);
                } else {
                    return Err(AuditError::MissingArgument {
                        audit: audit.name.clone(),
                        argument: name,
                    });
                }
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

fn invalid_custom(audit: &CustomAudit, argument: &str, message: &str) -> AuditError {
    AuditError::InvalidArgument {
        audit: audit.name.clone(),
        argument: argument.to_string(),
        message: message.to_string(),
    }
}

#[doc(hidden)]
pub mod fixtures;

#[cfg(test)]
mod tests;
