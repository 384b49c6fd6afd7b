//! Comparing SQL up to formatting and the renaming SQLMesh's renderer does on every query
//! (not macro semantics): both sides are parsed with sqlparser (DuckDB), then
//! * identifiers are compared without quotes and case (SQLMesh quotes and lower-cases all),
//! * the default catalog `macro_cases` is dropped from table names, and a table alias equal
//!   to the table's name is dropped (SQLMesh adds `AS "src_foo"` to every table),
//! * a projection alias equal to the name the projection already has is dropped (SQLMesh
//!   aliases `a` as `"a" AS "a"` and a literal `'x'` as `'x' AS "x"`),
//! * `POW` is `POWER` (SQLMesh's spelling of the same function), `x::T` is `CAST(x AS T)` and
//!   `VARCHAR` is `TEXT` (SQLMesh's parser writes every cast so).
//!
//! What remains must be equal token for token: precedence, parentheses, literals, structure.

use std::ops::ControlFlow;

use sqlparser::ast::{
    CastKind, DataType, Expr, Ident, ObjectName, ObjectNamePart, Query, SelectItem, SetExpr,
    TableFactor, Value, VisitMut, VisitorMut,
};
use sqlparser::dialect::DuckDbDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, Tokenizer};

/// Drops `catalog` from three-part table names.
struct Normalizer<'a> {
    catalog: &'a str,
}

fn part_name(part: &ObjectNamePart) -> String {
    match part {
        ObjectNamePart::Identifier(i) => i.value.to_lowercase(),
        other => other.to_string().to_lowercase(),
    }
}

/// The name a projection gets without an alias.
fn implicit_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(i) => Some(i.value.to_lowercase()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.to_lowercase()),
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s.to_lowercase()),
            Value::Number(n, _) => Some(n.to_string()),
            _ => None,
        },
        _ => None,
    }
}

fn normalize_body(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            for item in &mut select.projection {
                if let SelectItem::ExprWithAlias { expr, alias } = item
                    && implicit_name(expr).as_deref() == Some(alias.value.to_lowercase().as_str())
                {
                    *item = SelectItem::UnnamedExpr(expr.clone());
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            normalize_body(left);
            normalize_body(right);
        }
        SetExpr::Query(q) => normalize_body(&mut q.body),
        _ => {}
    }
}

impl VisitorMut for Normalizer<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        normalize_body(&mut query.body);
        ControlFlow::Continue(())
    }

    fn post_visit_relation(&mut self, name: &mut ObjectName) -> ControlFlow<()> {
        if name.0.len() == 3 && part_name(&name.0[0]) == self.catalog {
            name.0.remove(0);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, alias, .. } = factor
            && let (Some(a), Some(last)) = (alias.as_ref(), name.0.last())
            && a.columns.is_empty()
            && a.name.value.to_lowercase() == part_name(last)
        {
            *alias = None;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Cast {
            kind, data_type, ..
        } = expr
        {
            *kind = CastKind::Cast;
            if matches!(data_type, DataType::Varchar(None)) {
                *data_type = DataType::Text;
            }
        }
        if let Expr::Function(f) = expr
            && f.name.to_string().eq_ignore_ascii_case("pow")
        {
            f.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new("POWER"))]);
        }
        ControlFlow::Continue(())
    }
}

/// The normalized token text of every statement in `sql`, for a project whose default
/// catalog is `catalog`.
fn normalize_in(sql: &str, catalog: &str) -> String {
    let dialect = DuckDbDialect {};
    let mut statements = Parser::parse_sql(&dialect, sql)
        .unwrap_or_else(|e| panic!("sqlparser cannot parse\n{sql}\n{e}"));
    let _ = statements.visit(&mut Normalizer { catalog });
    let printed: Vec<String> = statements.iter().map(ToString::to_string).collect();
    let tokens = Tokenizer::new(&dialect, &printed.join(";\n"))
        .tokenize()
        .unwrap_or_default();
    tokens
        .iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .map(|t| match t {
            Token::Word(w) => w.value.to_lowercase(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asserts two queries are the same after [`normalize_in`] (catalog `macro_cases`).
pub(super) fn assert_same(ours: &str, sqlmesh: &str) {
    assert_same_in(ours, sqlmesh, "macro_cases");
}

/// [`assert_same`] for a project whose default catalog is `catalog`.
pub(crate) fn assert_same_in(ours: &str, sqlmesh: &str, catalog: &str) {
    let (a, b) = (normalize_in(ours, catalog), normalize_in(sqlmesh, catalog));
    assert_eq!(a, b, "\nours:\n{ours}\n\nSQLMesh:\n{sqlmesh}\n");
}
