//! Expanding a model when its project loads, before any run's interval is known.
//!
//! The macro language leaves `@start_ds` & co. and `@this_model` in place for the run-time
//! renderer ([`crate::sql::MacroValues`]). A Jinja block cannot leave `{{ start_ds }}` as it
//! is, so it prints a placeholder (`__sluice_macro__start_ds__jinja`) that the renderer
//! replaces with what Jinja would have printed. That is only right where the block prints the
//! value: [`expand_for_load`] checks it by expanding the model again with two sample intervals
//! and comparing, and reports a block that computes with a time variable instead.

use std::collections::BTreeSet;

use super::MACRO_PREFIX;
use super::lexer::{Kind, lex, text};
use super::time::{self, TimeValue};
use super::{Expanded, MacroContext, MacroError, MacroErrorKind, TimeRange, expand, jinja};

/// Every time variable's run-time values for `times`, as placeholder names (without
/// [`MACRO_PREFIX`]) and the text that replaces them: `start_ds` → `'2024-01-01'` (the macro
/// language's SQL), `start_ds__jinja` → `2024-01-01` (what Jinja prints).
pub fn time_values(times: TimeRange) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in time::all_names() {
        let Some((part, suffix)) = time::parse(&name) else {
            continue;
        };
        let printed = match time::jinja(part, suffix, &times) {
            TimeValue::Text(s) => s,
            TimeValue::Float(f) => super::eval::python_float(f),
            TimeValue::Int(i) => i.to_string(),
        };
        out.push((format!("{name}__jinja"), printed));
        out.push((name.clone(), time::sql(part, suffix, &times)));
    }
    out
}

/// Whether `name` (without `@`) is a variable the run-time renderer fills in.
pub fn is_run_time_variable(name: &str) -> bool {
    name.eq_ignore_ascii_case("this_model") || time::parse(name).is_some()
}

/// Whether a model's text needs expanding: it calls a macro, reads a macro variable other
/// than the run-time ones, builds an identifier from one, has a Jinja block, or has pre/post
/// statements around its query. Text without any of these is plain SQL, used as it is.
pub fn uses_macros(sql: &str) -> bool {
    // Most models of a large project: nothing to look at more closely.
    let jinja = sql
        .as_bytes()
        .windows(6)
        .any(|w| w.eq_ignore_ascii_case(b"jinja_"));
    if !jinja && !sql.contains(['@', '{', ';']) {
        return false;
    }
    let toks = lex(sql);
    let significant: Vec<_> = toks.iter().filter(|t| !t.is_trivia()).collect();
    significant.iter().enumerate().any(|(i, t)| match t.kind {
        Kind::Call | Kind::Brace => true,
        Kind::Var => !is_run_time_variable(t.macro_name()),
        Kind::Word | Kind::QuotedIdent if t.is_templated() => true,
        Kind::Word => t.is_word("JINJA_QUERY_BEGIN") || t.is_word("JINJA_STATEMENT_BEGIN"),
        Kind::Punct if t.is_punct("{") => significant
            .get(i + 1)
            .is_some_and(|n| n.is_punct("{") || n.is_punct("%")),
        Kind::Punct if t.is_punct(";") => i + 1 < significant.len(),
        _ => false,
    })
}

/// The macro functions `sql` calls (`@name(...)`), lower-cased, in order of first call.
pub fn called_macros(sql: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for t in lex(sql).iter().filter(|t| t.kind == Kind::Call) {
        let name = t.macro_name().to_lowercase();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Names of the macros a Python file of `macros/` registers: functions decorated with
/// `@macro()` (or `@macro("name")`, which registers that name).
pub fn python_macro_names(source: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut pending: Option<Option<String>> = None;
    for line in source.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("@macro") {
            let rest = rest.trim_start();
            if rest.is_empty() || rest.starts_with('(') {
                let quoted = rest
                    .split(['"', '\''])
                    .nth(1)
                    .filter(|n| !n.is_empty() && rest.contains(['"', '\'']));
                pending = Some(quoted.map(str::to_string));
            }
            continue;
        }
        if let Some(explicit) = &pending {
            let def = line.strip_prefix("async ").unwrap_or(line);
            if let Some(def) = def.strip_prefix("def ") {
                let name: String = def
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                names.insert(explicit.clone().unwrap_or(name).to_lowercase());
                pending = None;
            } else if !line.starts_with('@') && !line.is_empty() && !line.starts_with('#') {
                pending = None;
            }
        }
    }
    names
}

/// Two intervals that share nothing: a Jinja block that only prints time variables gives the
/// same text through placeholders as with these values.
const SAMPLES: [(i64, i64, i64); 2] = [
    // 2021-03-04 .. 2021-03-06, run 2021-03-07 10:00.
    (1_614_816_000_000, 1_615_075_200_000, 1_615_111_200_000),
    // 2023-11-30 05:00 .. 2023-12-02 17:00, run 2023-12-03.
    (1_701_320_400_000, 1_701_536_400_000, 1_701_561_600_000),
];
const SAMPLE_TABLE: &str = "\"sluice_check\".\"sample__table\"";

/// [`expand`] before the run's values are known: `ctx.times` and `ctx.this_model` are
/// ignored (the run fills them in).
pub fn expand_for_load(sql: &str, ctx: &mut MacroContext) -> Result<Expanded, Vec<MacroError>> {
    ctx.times = None;
    ctx.this_model = None;
    ctx.placeholders = true;
    let first = expand(sql, ctx);
    ctx.placeholders = false;
    let first = first?;
    if !first.sql.contains(MACRO_PREFIX) && !jinja_reads_run_time_values(sql, ctx) {
        return Ok(first);
    }
    let mut faithful = true;
    for (start, end, execution) in SAMPLES {
        let times = TimeRange {
            start,
            end,
            execution,
        };
        ctx.times = Some(times);
        ctx.this_model = Some(SAMPLE_TABLE.to_string());
        let direct = expand(sql, ctx);
        faithful &= direct.is_ok_and(|d| squash(&d.sql) == squash(&fill(&first.sql, times)));
    }
    ctx.times = None;
    ctx.this_model = None;
    if faithful {
        return Ok(first);
    }
    let mut ignored = Vec::new();
    let marker = jinja::split_blocks(sql, &mut ignored)
        .iter()
        .find_map(|p| p.jinja.map(|(_, m)| m))
        .unwrap_or(0);
    let (line, column) = super::expander::line_col(sql, marker);
    Err(vec![MacroError {
        line,
        column,
        file: None,
        construct: "JINJA_QUERY_BEGIN".into(),
        kind: MacroErrorKind::NeedsRunTime,
        message: "a Jinja block computes with a time variable or this_model (in a condition, \
                  a filter or arithmetic), whose value is only known when the model runs; \
                  Sluice expands Jinja when it loads the project, so a block may print these \
                  values but not compute with them"
            .into(),
    }])
}

/// Whether a Jinja block of `sql` (or a Jinja macro it may call) mentions a time variable or
/// `this_model`, even when no placeholder is printed (`{% if start_ds > ... %}`).
fn jinja_reads_run_time_values(sql: &str, ctx: &MacroContext) -> bool {
    let mut ignored = Vec::new();
    let blocks: Vec<&str> = jinja::split_blocks(sql, &mut ignored)
        .iter()
        .filter(|p| p.jinja.is_some())
        .map(|p| p.text)
        .collect();
    if blocks.is_empty() {
        return false;
    }
    let mentions = |text: &str| {
        let lower = text.to_ascii_lowercase();
        lower.contains("this_model") || time::all_names().any(|n| lower.contains(&n))
    };
    blocks.into_iter().any(mentions) || ctx.jinja_macros.iter().any(|m| mentions(&m.source))
}

/// The loaded expansion with `times` filled in, as the run-time renderer will fill it.
fn fill(expanded: &str, times: TimeRange) -> String {
    let values = time_values(times);
    let mut out = expanded.to_string();
    let mut by_length: Vec<&(String, String)> = values.iter().collect();
    by_length.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    for (name, value) in by_length {
        out = out.replace(&format!("{MACRO_PREFIX}{name}"), value);
    }
    out = out.replace(&format!("{MACRO_PREFIX}this_model"), SAMPLE_TABLE);
    let toks: Vec<_> = lex(&out)
        .into_iter()
        .map(|mut t| {
            if t.kind == Kind::Var {
                let name = t.macro_name().to_ascii_lowercase();
                if name == "this_model" {
                    t.text = SAMPLE_TABLE.to_string();
                } else if let Some((_, v)) = values.iter().find(|(n, _)| *n == name) {
                    t.text = v.clone();
                }
            }
            t
        })
        .collect();
    text(&toks)
}

/// Text with runs of whitespace made one space.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Dialect, ModelKind};

    fn incremental() -> ModelKind {
        ModelKind::IncrementalByTimeRange {
            time_column: "d".into(),
            time_format: None,
            batch_size: None,
            lookback: 0,
            forward_only: false,
        }
    }

    #[test]
    fn only_text_with_macros_needs_expanding() {
        for plain in [
            "SELECT a FROM t WHERE d BETWEEN @start_ds AND @end_ds",
            "SELECT * FROM @this_model;",
            "SELECT {'a': 1} AS s, '@x' AS literal -- @comment",
        ] {
            assert!(!uses_macros(plain), "{plain}");
        }
        for macro_text in [
            "SELECT @x",
            "SELECT @EACH([a], c -> c)",
            "SELECT col_@x FROM t",
            "SELECT @{x} FROM t",
            "JINJA_QUERY_BEGIN; SELECT 1 JINJA_END;",
            "SELECT '{{ x }}' || {{ y }}",
            "CREATE TABLE x (a INT); SELECT 1",
        ] {
            assert!(uses_macros(macro_text), "{macro_text}");
        }
    }

    #[test]
    fn python_macros_are_found_by_their_decorator() {
        let source = "from sqlmesh import macro\n\n@macro()\ndef add_one(evaluator, x):\n    \
                      return x + 1\n\n@macro\n# comment\ndef Upper(evaluator, s): ...\n\n\
                      @macro(\"renamed\")\ndef inner(evaluator): ...\n\ndef helper(): ...\n";
        let names: Vec<String> = python_macro_names(source).into_iter().collect();
        assert_eq!(names, ["add_one", "renamed", "upper"]);
    }

    #[test]
    fn jinja_time_variables_become_placeholders_when_only_printed() {
        let mut ctx = MacroContext::new("m.t", incremental(), Dialect::Duckdb);
        let sql = "JINJA_QUERY_BEGIN;\nSELECT a FROM t WHERE d >= '{{ start_ds }}' \
                   AND d < {{ end_epoch }} AND @end_ds > '' AND x IN (SELECT 1 FROM {{ this_model }})\nJINJA_END;";
        let e = expand_for_load(sql, &mut ctx).expect("expands");
        assert_eq!(
            e.query().expect("query").sql,
            "SELECT a FROM t WHERE d >= '__sluice_macro__start_ds__jinja' AND d < \
             __sluice_macro__end_epoch__jinja AND @end_ds > '' AND x IN (SELECT 1 FROM \
             __sluice_macro__this_model)"
        );

        let computed = "JINJA_QUERY_BEGIN;\nSELECT {% if start_ds > '2022-01-01' %}1{% else %}2{% endif %} AS x\nJINJA_END;";
        let errors = expand_for_load(computed, &mut ctx).expect_err("computes");
        assert_eq!(errors[0].kind, MacroErrorKind::NeedsRunTime);
        assert_eq!((errors[0].line, errors[0].column), (1, 1));
    }
}
