//! Models using SQLMesh macros and Jinja: expanded when the project loads, with the
//! project's variables and macros; refused up-front where Sluice cannot expand them.

use std::collections::BTreeMap;

use super::tests::{load_err, project};
use super::*;
use crate::model::ModelKind;
use crate::sql::{MacroValues, parse_query_ast, render};

const CONFIG: &str = "\
model_defaults:
  dialect: duckdb
  start: 2024-01-01
gateways:
  local:
    connection:
      type: duckdb
    variables:
      region: eu
variables:
  min_amount: 10
  region: us
  owner: \"{{ env_var('SLUICE_MACRO_TEST_UNSET', 'data-team') }}\"
";

const UTIL_PY: &str = "from sqlmesh import macro\n\n@macro()\ndef add_one(evaluator, x):\n    \
                       return x + 1\n";

fn model(name: &str, kind: &str, body: &str) -> String {
    format!("MODEL (\n  name {name},\n  kind {kind}\n);\n{body}\n")
}

#[test]
fn macros_and_jinja_expand_with_the_project_variables() {
    let dir = project(&[
        ("config.yaml", CONFIG),
        (
            "macros/jinja.sql",
            "{% macro cents(col) %}{{ col }} * 100{% endmacro %}",
        ),
        ("macros/util.py", UTIL_PY),
        (
            "models/orders.sql",
            &model(
                "s.orders",
                "INCREMENTAL_BY_TIME_RANGE (time_column d)",
                "@DEF(cols, [id, amount]);\n\
                 CREATE TABLE IF NOT EXISTS s.log (n INT);\n\
                 SELECT @EACH(@cols, c -> c), '@region' AS r, @gateway AS g\n\
                 FROM raw.orders\n\
                 WHERE amount > @min_amount AND d BETWEEN @start_ds AND @end_ds;\n\
                 INSERT INTO s.log SELECT COUNT(*) FROM @this_model",
            ),
        ),
        (
            "models/daily.sql",
            &model(
                "s.daily",
                "INCREMENTAL_BY_TIME_RANGE (time_column d)",
                "JINJA_QUERY_BEGIN;\n\
                 SELECT d, {{ cents('amount') }} AS cents, '{{ var('owner') }}' AS owner\n\
                 FROM s.orders WHERE d BETWEEN '{{ start_ds }}' AND '{{ end_ds }}'\n\
                 JINJA_END;",
            ),
        ),
    ]);
    let project = load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(project.config.gateway.as_deref(), Some("local"));
    assert_eq!(
        project.config.variables["owner"], "data-team",
        "config Jinja rendered"
    );
    let get = |name: &str| project.models.iter().find(|m| m.name == name).unwrap();

    let orders = get("s.orders");
    assert_eq!(
        orders.query.as_deref(),
        Some(
            "SELECT id, amount, '@region' AS r, 'local' AS g\nFROM raw.orders\n\
             WHERE amount > 10 AND d BETWEEN @start_ds AND @end_ds"
        )
    );
    assert_eq!(orders.query_line, 7, "where the query starts in the file");
    assert_eq!(
        orders.pre_statements,
        ["CREATE TABLE IF NOT EXISTS s.log (n INT)"]
    );
    assert_eq!(
        orders.post_statements,
        ["INSERT INTO s.log SELECT COUNT(*) FROM @this_model"]
    );

    // Jinja's time variables are filled in when the model runs, as Jinja prints them.
    let daily = get("s.daily");
    let (ast, parsed) = parse_query_ast(daily.query.as_deref().unwrap(), daily.dialect, 1).unwrap();
    assert_eq!(parsed.tables.iter().collect::<Vec<_>>(), ["s.orders"]);
    let day = 86_400_000;
    let start = crate::intervals::parse_time("2024-01-01", 0).unwrap().0;
    let values = MacroValues::for_interval(start, start + 2 * day, start + 2 * day);
    assert_eq!(
        render(&ast, &BTreeMap::new(), &values),
        "SELECT d, amount * 100 AS cents, 'data-team' AS owner FROM s.orders \
         WHERE d BETWEEN '2024-01-01' AND '2024-01-02'"
    );
}

#[test]
fn models_without_macros_are_used_as_written() {
    let dir = project(&[(
        "models/a.sql",
        &model(
            "s.a",
            "FULL",
            "SELECT {'k': 1} AS s -- @not_a_macro\nFROM t;",
        ),
    )]);
    let project = load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        project.models[0].query.as_deref(),
        Some("SELECT {'k': 1} AS s -- @not_a_macro\nFROM t")
    );
    assert_eq!(project.models[0].kind, ModelKind::Full);
}

#[test]
fn a_model_calling_a_python_macro_is_left_out_with_its_descendants() {
    let dir = project(&[
        ("macros/util.py", UTIL_PY),
        (
            "models/p.sql",
            &model("s.p", "FULL", "SELECT\n  @add_one(a) AS b\nFROM t"),
        ),
        ("models/q.sql", &model("s.q", "FULL", "SELECT b FROM s.p")),
        ("models/r.sql", &model("s.r", "FULL", "SELECT 1 AS c")),
    ]);
    let project = load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
    let dag = crate::graph::Dag::build(&project).unwrap();
    let kept: Vec<&str> = dag.nodes.iter().map(|n| n.model.name.as_str()).collect();
    assert_eq!(kept, ["s.r"]);
    let refused: Vec<String> = dag
        .refused
        .iter()
        .map(|(what, why)| format!("{what}: {why}"))
        .collect();
    assert_eq!(
        refused,
        [
            "s.p (models/p.sql): calls the Python macro(s) @add_one: Sluice does not run Python",
            "s.q: reads s.p, which is left out",
        ]
    );
}

#[test]
fn a_python_macro_beside_another_problem_is_reported_by_name_and_file() {
    let lines = load_err(&[
        ("macros/util.py", UTIL_PY),
        (
            "models/p.sql",
            &model(
                "s.p",
                "FULL",
                "SELECT\n  @add_one(a) AS b, @nope(a) AS c\nFROM t",
            ),
        ),
    ]);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        lines[0],
        "models/p.sql:6:3: @add_one: is a Python macro (defined in macros/util.py): it needs \
         Python, which Sluice does not run; write it as a SQL macro (@DEF) or a Jinja macro \
         (macros/*.sql)"
    );
    assert!(
        lines[1].contains("@nope: unknown macro function"),
        "{lines:?}"
    );
}

#[test]
fn unknown_functions_and_variables_are_told_apart() {
    let lines = load_err(&[
        ("config.yaml", CONFIG),
        (
            "models/u.sql",
            &model(
                "s.u",
                "FULL",
                "SELECT @nope(a) AS x,\n  @missing AS y\nFROM t",
            ),
        ),
    ]);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("models/u.sql:5:8: @nope: unknown macro function"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("models/u.sql:6:3: @missing: unknown macro variable"),
        "{lines:?}"
    );
}

#[test]
fn jinja_that_computes_with_run_time_values_is_refused() {
    let lines = load_err(&[(
        "models/j.sql",
        &model(
            "s.j",
            "INCREMENTAL_BY_TIME_RANGE (time_column d)",
            "JINJA_QUERY_BEGIN;\n\
             SELECT d FROM t {% if start_ds > '2024-06-01' %}WHERE d > 0{% endif %}\n\
             JINJA_END;",
        ),
    )]);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("models/j.sql:5:1: JINJA_QUERY_BEGIN: a Jinja block computes"),
        "{lines:?}"
    );
}

#[test]
fn config_jinja_errors_are_located() {
    let lines = load_err(&[("config.yaml", "model_defaults:\n  start: \"{{ nope( }}\"\n")]);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("config.yaml:2:"), "{lines:?}");
}
