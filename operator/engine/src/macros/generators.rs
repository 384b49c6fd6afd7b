//! SQLMesh's built-in macros that write SQL: `@STAR`, `@UNION`, `@GENERATE_SURROGATE_KEY`,
//! `@SAFE_ADD`, `@SAFE_SUB`, `@SAFE_DIV`, `@PIVOT`, `@DEDUPLICATE`, `@DATE_SPINE`,
//! `@HAVERSINE_DISTANCE`, `@RESOLVE_TEMPLATE`.
//!
//! The SQL follows what SQLMesh 0.236 renders for DuckDB (and Postgres where they differ),
//! up to formatting.

use super::MacroErrorKind;
use super::expander::{Expander, R, Scope, construct};
use super::lexer::{Kind, Tok, lex};
use super::value::{Literal, Val, identifier, quote_ident, quote_string, unquote_ident};
use crate::model::Dialect;

/// The value SQLMesh hashes in place of a NULL column; changing it changes every key.
const SURROGATE_KEY_NULL: &str = "_sqlmesh_surrogate_key_null_";

/// A relation name as the columns callback gets it: parts unquoted, unquoted parts
/// lower-cased, joined by dots (`Mc."Src"` → `mc.Src`).
pub(crate) fn relation_key(sql: &str) -> String {
    lex(sql)
        .into_iter()
        .filter(|t| !t.is_trivia() && !t.is_punct("."))
        .map(|t| match t.kind {
            Kind::QuotedIdent => unquote_ident(&t.text),
            _ => t.text.to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The last part of a relation name, as an identifier (`mc.src_foo` → `src_foo`).
fn last_part(sql: &str) -> String {
    relation_key(sql)
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn same_type(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_uppercase()
    };
    norm(a) == norm(b)
}

impl Expander<'_> {
    pub(crate) fn generate(&mut self, name: &str, t: &Tok, raw: &[Tok], scope: &Scope) -> R<Val> {
        let sql = match name {
            "safe_add" | "safe_sub" => {
                let args = self.args(raw, scope, true)?;
                if args.iter().any(|a| a.name.is_some()) || args.is_empty() {
                    return Err(self.invalid(t, "takes one or more values, by position"));
                }
                let vals: Vec<String> = args.iter().map(|a| a.val.text()).collect();
                let nulls: Vec<String> = vals.iter().map(|v| format!("{v} IS NULL")).collect();
                let op = if name == "safe_add" { " + " } else { " - " };
                let sums: Vec<String> = vals.iter().map(|v| format!("COALESCE({v}, 0)")).collect();
                format!(
                    "CASE WHEN {} THEN NULL ELSE {} END",
                    nulls.join(" AND "),
                    sums.join(op)
                )
            }
            "safe_div" => {
                let [a, b] = self.fixed::<2>(t, raw, scope, &["numerator", "denominator"], 2)?;
                let (a, b) = (
                    a.unwrap_or(Val::Nothing).text(),
                    b.unwrap_or(Val::Nothing).text(),
                );
                match self.ctx.dialect {
                    // Postgres divides integers to an integer; SQLMesh casts the numerator.
                    Dialect::Postgres => format!("CAST({a} AS DOUBLE PRECISION) / NULLIF({b}, 0)"),
                    // Both divide integers to a fraction.
                    Dialect::Duckdb | Dialect::Spark => format!("{a} / NULLIF({b}, 0)"),
                }
            }
            "generate_surrogate_key" => self.surrogate_key(t, raw, scope)?,
            "star" => return self.star(t, raw, scope),
            "union" => self.union(t, raw, scope)?,
            "pivot" => return self.pivot(t, raw, scope),
            "deduplicate" => self.deduplicate(t, raw, scope)?,
            "date_spine" => self.date_spine(t, raw, scope)?,
            "haversine_distance" => self.haversine(t, raw, scope)?,
            _ => return self.resolve_template(t, raw, scope),
        };
        Ok(Val::sql(&sql, t.pos))
    }

    fn surrogate_key(&mut self, t: &Tok, raw: &[Tok], scope: &Scope) -> R<String> {
        let mut hash = "MD5".to_string();
        let mut parts = Vec::new();
        for arg in self.args(raw, scope, true)? {
            match arg.name.as_deref() {
                Some("hash_function") => {
                    hash = self.string(t, Some(arg.val), "hash_function", None)?;
                }
                Some(other) => {
                    let message = format!("has no argument named '{other}' (only hash_function)");
                    return Err(self.invalid(t, &message));
                }
                None => parts.push(format!(
                    "COALESCE(CAST({} AS TEXT), {})",
                    arg.val.text(),
                    quote_string(SURROGATE_KEY_NULL)
                )),
            }
        }
        if parts.is_empty() {
            return Err(self.invalid(t, "needs at least one column"));
        }
        Ok(format!("{hash}({})", parts.join(" || '|' || ")))
    }

    /// The columns of a relation, from the caller.
    fn columns_of(&mut self, t: &Tok, relation: &str) -> R<Vec<(String, String)>> {
        let key = relation_key(relation);
        let found = self.ctx.columns.and_then(|c| c.columns(&key));
        found.ok_or_else(|| {
            self.fail(
                t.pos,
                &construct(t),
                MacroErrorKind::MissingColumns,
                format!(
                    "needs the columns and types of {key}, which are not known (declare them \
                     with `columns (...)` in its MODEL block, or make it a model whose columns \
                     can be found)"
                ),
            )
        })
    }

    fn star(&mut self, t: &Tok, raw: &[Tok], scope: &Scope) -> R<Val> {
        const PARAMS: [&str; 7] = [
            "relation",
            "alias",
            "exclude",
            "prefix",
            "suffix",
            "quote_identifiers",
            "except_",
        ];
        let [relation, alias, exclude, prefix, suffix, quote, except] =
            self.fixed::<7>(t, raw, scope, &PARAMS, 1)?;
        let relation = relation.unwrap_or(Val::Nothing).text();
        let alias = match alias {
            Some(a) => a.name().unwrap_or_default(),
            None => last_part(&relation),
        };
        let excluded: Vec<String> = exclude
            .or(except)
            .map(|v| v.items())
            .unwrap_or_default()
            .iter()
            .filter_map(Val::name)
            .map(|n| n.to_lowercase())
            .collect();
        let prefix = self.string(t, prefix, "prefix", Some(""))?;
        let suffix = self.string(t, suffix, "suffix", Some(""))?;
        let quote = self.flag(t, quote, true)?;
        let qualifier = identifier(&alias, t.pos).text;
        let columns = self.columns_of(t, &relation)?;
        let items = columns
            .iter()
            .filter(|(c, _)| !excluded.contains(&c.to_lowercase()))
            .map(|(c, ty)| {
                let name = format!("{prefix}{c}{suffix}");
                let name = if quote { quote_ident(&name) } else { name };
                let sql = format!("CAST({qualifier}.{} AS {ty}) AS {name}", quote_ident(c));
                Val::sql(&sql, t.pos)
            })
            .collect();
        Ok(Val::Many(items))
    }

    fn union(&mut self, t: &Tok, raw: &[Tok], scope: &Scope) -> R<String> {
        let mut args = self
            .args(raw, scope, true)?
            .into_iter()
            .map(|a| a.val)
            .peekable();
        let is_relation = |v: &Val| {
            let toks = v.tokens(0);
            !toks.is_empty()
                && toks
                    .iter()
                    .all(|t| matches!(t.kind, Kind::Word | Kind::QuotedIdent) || t.is_punct("."))
        };
        let mut include_rest = true;
        if let Some(first) = args
            .peek()
            .filter(|v| v.as_str().is_none() && !is_relation(v))
        {
            let first = first.clone();
            include_rest = self.condition(&first, t)?;
            args.next();
        }
        let mut kind = "ALL".to_string();
        if let Some(s) = args.peek().and_then(Val::as_str) {
            kind = s.to_uppercase();
            if kind != "ALL" && kind != "DISTINCT" {
                return Err(self.invalid(t, "the union type must be 'all' or 'distinct'"));
            }
            args.next();
        }
        let tables: Vec<String> = args.map(|v| v.text()).collect();
        if tables.is_empty() {
            return Err(self.invalid(t, "needs at least one table"));
        }
        let mut schemas = Vec::new();
        for table in &tables {
            schemas.push(self.columns_of(t, table)?);
        }
        let common: Vec<&(String, String)> = schemas[0]
            .iter()
            .filter(|(c, ty)| {
                schemas[1..].iter().all(|s| {
                    s.iter()
                        .any(|(c2, ty2)| c2.eq_ignore_ascii_case(c) && same_type(ty, ty2))
                })
            })
            .collect();
        if common.is_empty() {
            return Err(self.invalid(
                t,
                "the tables have no column in common (same name and type)",
            ));
        }
        let select = common
            .iter()
            .map(|(c, ty)| format!("CAST({} AS {ty}) AS {}", quote_ident(c), quote_ident(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let count = if include_rest { tables.len() } else { 1 };
        let op = if kind == "ALL" {
            " UNION ALL "
        } else {
            " UNION "
        };
        Ok(tables[..count]
            .iter()
            .map(|table| format!("SELECT {select} FROM {table}"))
            .collect::<Vec<_>>()
            .join(op))
    }

    fn pivot(&mut self, t: &Tok, raw: &[Tok], scope: &Scope) -> R<Val> {
        const PARAMS: [&str; 11] = [
            "column",
            "values",
            "alias",
            "agg",
            "cmp",
            "prefix",
            "suffix",
            "then_value",
            "else_value",
            "quote",
            "distinct",
        ];
        let [
            column,
            values,
            alias,
            agg,
            cmp,
            prefix,
            suffix,
            then,
            otherwise,
            quote,
            distinct,
        ] = self.fixed::<11>(t, raw, scope, &PARAMS, 2)?;
        let column = column.unwrap_or(Val::Nothing).text();
        let alias = self.flag(t, alias, true)?;
        let agg = self.string(t, agg, "agg", Some("SUM"))?;
        let cmp = self.string(t, cmp, "cmp", Some("="))?;
        let prefix = self.string(t, prefix, "prefix", Some(""))?;
        let suffix = self.string(t, suffix, "suffix", Some(""))?;
        let then = then.map_or("1".to_string(), |v| v.text());
        let otherwise = otherwise.map_or("0".to_string(), |v| v.text());
        let quote = self.flag(t, quote, true)?;
        let distinct = if self.flag(t, distinct, false)? {
            "DISTINCT "
        } else {
            ""
        };
        let items = values
            .unwrap_or(Val::Nothing)
            .items()
            .iter()
            .map(|v| {
                let mut sql = format!(
                    "{agg}({distinct}CASE WHEN {column} {cmp} {} THEN {then} ELSE {otherwise} END)",
                    v.text()
                );
                if alias {
                    let name = format!("{prefix}{}{suffix}", v.name().unwrap_or_default());
                    let name = if quote { quote_ident(&name) } else { name };
                    sql = format!("{sql} AS {name}");
                }
                Val::sql(&sql, t.pos)
            })
            .collect();
        Ok(Val::Many(items))
    }

    fn deduplicate(&mut self, t: &Tok, raw: &[Tok], scope: &Scope) -> R<String> {
        let params = ["relation", "partition_by", "order_by"];
        let [relation, partition, order] = self.fixed::<3>(t, raw, scope, &params, 3)?;
        let relation = relation.unwrap_or(Val::Nothing).text();
        let partition: Vec<String> = partition
            .unwrap_or(Val::Nothing)
            .items()
            .iter()
            .map(Val::text)
            .collect();
        let mut order_by = Vec::new();
        for item in order.unwrap_or(Val::Nothing).items() {
            let text = self.string(t, Some(item), "each order_by item", None)?;
            // NULLS LAST is DuckDB's default: SQLMesh does not write it.
            let text = match (
                self.ctx.dialect,
                text.to_uppercase().strip_suffix("NULLS LAST"),
            ) {
                (Dialect::Duckdb, Some(rest)) => text[..rest.len()].trim_end().to_string(),
                _ => text,
            };
            order_by.push(text);
        }
        if partition.is_empty() || order_by.is_empty() {
            return Err(self.invalid(t, "needs a non-empty partition_by list and order_by list"));
        }
        let window = format!(
            "ROW_NUMBER() OVER (PARTITION BY {} ORDER BY {})",
            partition.join(", "),
            order_by.join(", ")
        );
        Ok(match self.ctx.dialect {
            Dialect::Duckdb => format!("SELECT * FROM {relation} QUALIFY {window} = 1"),
            // Postgres and open-source Spark have no QUALIFY: like SQLMesh, filter a subquery
            // (whose `_w` column stays in the result).
            Dialect::Postgres | Dialect::Spark => format!(
                "SELECT * FROM (SELECT *, {window} AS _w FROM {relation}) AS _t WHERE _w = 1"
            ),
        })
    }

    fn date_spine(&mut self, t: &Tok, raw: &[Tok], scope: &Scope) -> R<String> {
        let params = ["datepart", "start_date", "end_date"];
        let [part, start, end] = self.fixed::<3>(t, raw, scope, &params, 3)?;
        let part = self.string(t, part, "datepart", None)?.to_lowercase();
        if !["day", "week", "month", "quarter", "year"].contains(&part.as_str()) {
            return Err(self.invalid(
                t,
                "datepart must be 'day', 'week', 'month', 'quarter' or 'year'",
            ));
        }
        let mut bounds = Vec::new();
        for v in [start, end].into_iter().flatten() {
            if let Some(Literal::Str(s)) = v.literal()
                && chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").is_err()
            {
                return Err(self.invalid(t, &format!("'{s}' is not a date (YYYY-MM-DD)")));
            }
            bounds.push(format!("CAST({} AS DATE)", v.text()));
        }
        let column = format!("date_{part}");
        let (s, e) = (&bounds[0], &bounds[1]);
        let step = if part == "quarter" {
            "3 MONTH".into()
        } else {
            format!("1 {}", part.to_uppercase())
        };
        Ok(match self.ctx.dialect {
            Dialect::Duckdb => format!(
                "SELECT {column} FROM UNNEST(CAST(GENERATE_SERIES({s}, {e}, INTERVAL '1' {}) AS \
                 DATE[])) AS _exploded({column})",
                part.to_uppercase()
            ),
            Dialect::Postgres => format!(
                "SELECT {column} FROM (SELECT CAST(value AS DATE) FROM GENERATE_SERIES({s}, \
                 {e}, INTERVAL '{step}') AS _t(value)) AS _exploded({column})"
            ),
            Dialect::Spark => format!(
                "SELECT {column} FROM (SELECT EXPLODE(SEQUENCE({s}, {e}, INTERVAL {step})) \
                 AS {column}) AS _exploded"
            ),
        })
    }

    fn haversine(&mut self, t: &Tok, raw: &[Tok], scope: &Scope) -> R<String> {
        let params = ["lat1", "lon1", "lat2", "lon2", "unit"];
        let [lat1, lon1, lat2, lon2, unit] = self.fixed::<5>(t, raw, scope, &params, 4)?;
        let factor = match self.string(t, unit, "unit", Some("mi"))?.as_str() {
            "mi" => "1.0",
            "km" => "1.60934",
            _ => return Err(self.invalid(t, "unit must be 'mi' or 'km'")),
        };
        let [lat1, lon1, lat2, lon2] =
            [lat1, lon1, lat2, lon2].map(|v| v.unwrap_or(Val::Nothing).text());
        // Earth's diameter in miles times the haversine term.
        Ok(format!(
            "7922 * ASIN(SQRT((POWER(SIN(RADIANS(({lat2} - {lat1}) / 2)), 2)) + \
             (COS(RADIANS({lat1})) * COS(RADIANS({lat2})) * POWER(SIN(RADIANS(({lon2} - {lon1}) \
             / 2)), 2)))) * {factor}"
        ))
    }

    fn resolve_template(&mut self, t: &Tok, raw: &[Tok], scope: &Scope) -> R<Val> {
        let [template, mode] = self.fixed::<2>(t, raw, scope, &["template", "mode"], 1)?;
        let template = self.string(t, template, "template", None)?;
        let mode = self
            .string(t, mode, "mode", Some("literal"))?
            .to_lowercase();
        let Some(table) = self.ctx.this_model.clone() else {
            return Err(self.needs_run_time(t, "@this_model"));
        };
        let parts: Vec<String> = lex(&table)
            .into_iter()
            .filter(|t| !t.is_trivia() && !t.is_punct("."))
            .map(|t| match t.kind {
                Kind::QuotedIdent => unquote_ident(&t.text),
                _ => t.text,
            })
            .collect();
        let part = |back: usize| parts.iter().rev().nth(back).cloned().unwrap_or_default();
        let resolved = template
            .replace("@{catalog_name}", &part(2))
            .replace("@{schema_name}", &part(1))
            .replace("@{table_name}", &part(0));
        match mode.as_str() {
            "literal" => Ok(Val::string(&resolved, t.pos)),
            "table" => Ok(Val::sql(&resolved, t.pos)),
            _ => Err(self.invalid(t, "mode must be 'literal' or 'table'")),
        }
    }
}
