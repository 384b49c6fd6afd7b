//! Values between a test's YAML and SQL: a test's rows as a query, and the comparison of what
//! the warehouse returned (every value as text) with what the test expects.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use super::{Expected, Rows};
use crate::snapshot::{quote_ident, quote_literal};

/// A query returning `rows`, with `types` (column → SQL type, from the model's `columns`)
/// cast where known. With no rows the columns still exist (typed, else as text).
pub fn fixture_sql(rows: &Rows, types: &BTreeMap<String, String>) -> Result<String, String> {
    if rows.columns.is_empty() {
        if types.is_empty() {
            return Err(
                "no rows and no declared `columns`: name at least one column, or give a row".into(),
            );
        }
        let columns: Vec<String> = types
            .iter()
            .map(|(c, t)| format!("CAST(NULL AS {t}) AS {}", quote_ident(c)))
            .collect();
        return Ok(format!("SELECT {} WHERE 1 = 0", columns.join(", ")));
    }
    let cast = |column: &str, literal: String| match types.get(column) {
        Some(t) => format!("CAST({literal} AS {t})"),
        None => literal,
    };
    let names: Vec<String> = rows.columns.iter().map(|c| quote_ident(c)).collect();
    if rows.values.is_empty() {
        let columns: Vec<String> = rows
            .columns
            .iter()
            .map(|c| format!("{} AS {}", cast(c, "NULL".into()), quote_ident(c)))
            .collect();
        return Ok(format!("SELECT {} WHERE 1 = 0", columns.join(", ")));
    }
    let tuples: Vec<String> = rows
        .values
        .iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&rows.columns)
                .map(|(v, c)| cast(c, literal(v)))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect();
    Ok(format!(
        "SELECT * FROM (VALUES {}) AS fixture({})",
        tuples.join(", "),
        names.join(", ")
    ))
}

/// A YAML value as a SQL literal: dates and timestamps written as text become typed literals,
/// as SQLMesh reads them.
fn literal(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if is_date(s) => format!("DATE {}", quote_literal(s)),
        Value::String(s) if is_timestamp(s) => {
            format!("TIMESTAMP {}", quote_literal(&s.replacen('T', " ", 1)))
        }
        Value::String(s) => quote_literal(s),
        other => quote_literal(&other.to_string()),
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

fn is_timestamp(s: &str) -> bool {
    s.len() >= 19
        && is_date(&s[..10])
        && matches!(s.as_bytes()[10], b' ' | b'T')
        && s[11..]
            .chars()
            .all(|c| c.is_ascii_digit() || ":.".contains(c))
}

/// How a result differs from what a test expects, for people.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch(pub String);

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Compares a result (`columns`, `rows` as text) with `expected`, ignoring row order. Numbers
/// compare within a relative 1e-6, dates and timestamps in either spelling.
pub fn compare(
    expected: &Expected,
    columns: &[String],
    rows: &[Vec<Option<String>>],
) -> Result<(), Mismatch> {
    let mut index = Vec::new();
    let mut missing_columns = Vec::new();
    for c in &expected.rows.columns {
        match columns.iter().position(|a| a.eq_ignore_ascii_case(c)) {
            Some(i) => index.push(i),
            None => missing_columns.push(c.as_str()),
        }
    }
    if !missing_columns.is_empty() {
        return Err(Mismatch(format!(
            "the result has no column {} (it has: {})",
            missing_columns.join(", "),
            columns.join(", ")
        )));
    }
    if !expected.partial && columns.len() > expected.rows.columns.len() {
        let extra: Vec<&str> = columns
            .iter()
            .filter(|a| {
                !expected
                    .rows
                    .columns
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(a))
            })
            .map(String::as_str)
            .collect();
        return Err(Mismatch(format!(
            "the result has columns the test does not expect: {} (list them, or set `partial: true`)",
            extra.join(", ")
        )));
    }
    let mut unmatched: Vec<usize> = (0..rows.len()).collect();
    let mut missing = Vec::new();
    for want in &expected.rows.values {
        let found = unmatched.iter().position(|&r| {
            want.iter()
                .zip(&index)
                .all(|(w, &i)| same_value(w, rows[r][i].as_deref()))
        });
        match found {
            Some(at) => {
                unmatched.remove(at);
            }
            None => missing.push(want),
        }
    }
    if missing.is_empty() && unmatched.is_empty() {
        return Ok(());
    }
    let mut out = String::new();
    let header = expected.rows.columns.join(" | ");
    if !missing.is_empty() {
        let _ = writeln!(out, "expected but not returned ({header}):");
        for row in &missing {
            let cells: Vec<String> = row.iter().map(show_expected).collect();
            let _ = writeln!(out, "  {}", cells.join(" | "));
        }
    }
    if !unmatched.is_empty() {
        let _ = writeln!(out, "returned but not expected ({header}):");
        for &r in &unmatched {
            let cells: Vec<&str> = index
                .iter()
                .map(|&i| rows[r][i].as_deref().unwrap_or("NULL"))
                .collect();
            let _ = writeln!(out, "  {}", cells.join(" | "));
        }
    }
    Err(Mismatch(out.trim_end().to_string()))
}

fn show_expected(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether a returned value (text; `None` = NULL) is what the test wrote.
pub fn same_value(want: &Value, got: Option<&str>) -> bool {
    let Some(got) = got else {
        return want.is_null();
    };
    match want {
        Value::Null => false,
        Value::Bool(b) => matches!(
            (got.to_ascii_lowercase().as_str(), b),
            ("true" | "t" | "1", true) | ("false" | "f" | "0", false)
        ),
        Value::Number(n) => match (n.as_f64(), got.trim().parse::<f64>()) {
            (Some(w), Ok(g)) => (w - g).abs() <= 1e-6 * w.abs().max(1.0),
            _ => false,
        },
        Value::String(s) => {
            if let (Ok(w), Ok(g)) = (s.trim().parse::<f64>(), got.trim().parse::<f64>()) {
                return (w - g).abs() <= 1e-6 * w.abs().max(1.0);
            }
            moment(s) == moment(got)
        }
        other => got == other.to_string().as_str(),
    }
}

/// A date or timestamp in one spelling: `T` as a space, no zero fraction, no UTC offset, and
/// midnight written as a bare date.
fn moment(s: &str) -> String {
    let mut t = s.trim().replacen('T', " ", 1);
    for suffix in ["+00:00", "+00", "Z"] {
        if t.len() > 10 && t.ends_with(suffix) {
            t.truncate(t.len() - suffix.len());
        }
    }
    if let Some(dot) = t.find('.').filter(|_| t.len() > 19)
        && t[dot + 1..].chars().all(|c| c == '0')
    {
        t.truncate(dot);
    }
    if t.len() == 19 && t.ends_with(" 00:00:00") && is_date(&t[..10]) {
        t.truncate(10);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(columns: &[&str], values: Vec<Vec<Value>>) -> Rows {
        Rows {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            values,
        }
    }

    #[test]
    fn fixtures_become_typed_values() {
        let r = rows(
            &["id", "day", "name"],
            vec![vec![1.into(), "2022-01-01".into(), "o'neil".into()]],
        );
        let types = BTreeMap::from([("id".to_string(), "BIGINT".to_string())]);
        assert_eq!(
            fixture_sql(&r, &types).unwrap(),
            r#"SELECT * FROM (VALUES (CAST(1 AS BIGINT), DATE '2022-01-01', 'o''neil')) AS fixture("id", "day", "name")"#
        );
        assert!(fixture_sql(&Rows::default(), &BTreeMap::new()).is_err());
    }

    #[test]
    fn results_compare_as_people_read_them() {
        assert!(same_value(&26.1.into(), Some("26.099999999999998")));
        assert!(same_value(
            &"2022-01-01".into(),
            Some("2022-01-01 00:00:00")
        ));
        assert!(same_value(
            &"2022-01-01T10:00:00".into(),
            Some("2022-01-01 10:00:00+00")
        ));
        assert!(same_value(&true.into(), Some("t")));
        assert!(same_value(&Value::Null, None));
        assert!(!same_value(&1.into(), None));
        assert!(!same_value(&"a".into(), Some("b")));
    }

    #[test]
    fn a_difference_names_the_rows() {
        let expected = Expected {
            rows: rows(
                &["a", "b"],
                vec![vec![1.into(), "x".into()], vec![2.into(), "y".into()]],
            ),
            partial: false,
        };
        let columns = vec!["a".to_string(), "b".to_string()];
        let got = vec![
            vec![Some("2".into()), Some("y".into())],
            vec![Some("1".into()), Some("z".into())],
        ];
        let m = compare(&expected, &columns, &got).unwrap_err().0;
        assert!(
            m.contains("expected but not returned (a | b):\n  1 | x"),
            "{m}"
        );
        assert!(
            m.contains("returned but not expected (a | b):\n  1 | z"),
            "{m}"
        );
        let swapped = vec![
            vec![Some("2".into()), Some("y".into())],
            vec![Some("1".into()), Some("x".into())],
        ];
        assert!(
            compare(&expected, &columns, &swapped).is_ok(),
            "row order does not matter"
        );
        let wider = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let with_c = vec![vec![Some("1".into()), Some("x".into()), None]; 1];
        assert!(
            compare(&expected, &wider, &with_c)
                .unwrap_err()
                .0
                .contains("partial")
        );
    }
}
