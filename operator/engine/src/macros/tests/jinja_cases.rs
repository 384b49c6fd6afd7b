//! Jinja features beyond the test project's renders: config files, `var()` defaults and
//! collections, control flow, time variables of incremental models, `gateway()`, and the
//! project's macros called with keyword arguments.

use std::collections::BTreeMap;

use super::normalize::assert_same;
use super::{context, incremental, query};
use crate::macros::{MacroErrorKind, expand, render_config};
use crate::model::ModelKind;

fn expand_query(sql: &str, kind: ModelKind) -> String {
    query(&expand(sql, &context("mc.j", kind)))
}

#[test]
fn config_files_render_env_var_with_and_without_default() {
    let text = "a: \"{{ env_var('A') }}\"\nb: \"{{ env_var('B', 'fallback') }}\"\n\
                c: \"{{ env_var('C') }}\"\nd: {{ 1 + 2 }}\n";
    let env = BTreeMap::from([("A".to_string(), "from_env".to_string())]);
    let rendered = render_config(text, &env).expect("renders");
    // A missing variable without default prints Python's `None`, as SQLMesh's config does;
    // the final newline goes, as in Jinja2.
    assert_eq!(
        rendered,
        "a: \"from_env\"\nb: \"fallback\"\nc: \"None\"\nd: 3"
    );

    let error = render_config("a: 1\nb: \"{{ env_var( }}\"\n", &env).expect_err("fails");
    assert_eq!(
        (error.line, error.kind),
        (2, MacroErrorKind::Jinja),
        "{error:?}"
    );
}

#[test]
fn var_reads_project_variables_and_defaults() {
    let sql = "JINJA_QUERY_BEGIN;
SELECT
  {{ var('int_var') }} AS i,
  '{{ var('str_var') }}' AS s,
  '{{ var('missing', 'dflt') }}' AS d,
  '{{ var('overridden_var') }}' AS o,
  {% for x in var('list_var') %}{{ x }} AS l{{ loop.index }}{% if not loop.last %}, {% endif %}{% endfor %},
  '{{ var('dict_var')['key2'] }}' AS k,
  {% if var('bool_var') %}1{% else %}0{% endif %} AS b
JINJA_END;";
    let ctx = context("mc.j", ModelKind::Full);
    let expanded = expand(sql, &ctx).expect("expands");
    assert_same(
        &expanded.query().expect("query").sql,
        "SELECT 1 AS i, 'cat' AS s, 'dflt' AS d, 'gateway_value' AS o, 1 AS l1, 2 AS l2, \
         3 AS l3, 'two' AS k, 1 AS b",
    );
    // The variables read are recorded (they are part of what the query means).
    let read: Vec<&str> = expanded.variables.iter().map(String::as_str).collect();
    assert_eq!(
        read,
        [
            "bool_var",
            "dict_var",
            "int_var",
            "list_var",
            "overridden_var",
            "str_var"
        ]
    );
}

#[test]
fn incremental_queries_see_the_interval() {
    let sql = "JINJA_QUERY_BEGIN;
SELECT a FROM mc.src_foo
WHERE event_date BETWEEN '{{ start_ds }}' AND '{{ end_ds }}'
  AND {{ start_millis }} < {{ end_millis }}
JINJA_END;";
    assert_same(
        &expand_query(sql, incremental()),
        "SELECT a FROM mc.src_foo WHERE event_date BETWEEN '2024-01-01' AND '2024-01-03' \
         AND 1704067200000 < 1704326399999",
    );
}

#[test]
fn gateway_set_and_macros_with_keyword_arguments() {
    let sql = "JINJA_QUERY_BEGIN;
{% set cols = ['b', 'c'] %}
SELECT
  '{{ gateway() }}' AS gw,
  {{ alias(expression='a + 1', alias='a1') }},
  {{ safe_hash(cols) }} AS h
FROM mc.src_foo
JINJA_END;";
    assert_same(
        &expand_query(sql, ModelKind::Full),
        "SELECT 'local' AS gw, a + 1 AS a1, \
         MD5(COALESCE(LOWER(b), '') || COALESCE(LOWER(c), '')) AS h FROM mc.src_foo",
    );
}

#[test]
fn statement_blocks_before_and_after_the_query() {
    let sql = "JINJA_STATEMENT_BEGIN;
CREATE TABLE IF NOT EXISTS mc_side.log_{{ var('str_var') }} (x INT);
JINJA_END;
SELECT 1 AS a;
JINJA_STATEMENT_BEGIN;
INSERT INTO mc_side.log_cat SELECT COUNT(*) FROM {{ this_model }};
JINJA_END;";
    let ctx = context("mc.j", ModelKind::Full);
    let expanded = expand(sql, &ctx).expect("expands");
    let statements: Vec<(bool, &str)> = expanded
        .statements
        .iter()
        .map(|s| (s.is_query, s.sql.as_str()))
        .collect();
    assert_eq!(
        statements,
        [
            (false, "CREATE TABLE IF NOT EXISTS mc_side.log_cat (x INT)"),
            (true, "SELECT 1 AS a"),
            (
                false,
                "INSERT INTO mc_side.log_cat SELECT COUNT(*) FROM \"macro_cases\".\"mc\".\"j\""
            ),
        ]
    );
}
