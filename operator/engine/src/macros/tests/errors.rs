//! Errors: SQLMesh's error and quirk cases (`testdata/errors/`), and what Sluice adds:
//! every error of a model in one pass, each located, with a message a user understands.

use super::normalize::assert_same;
use super::{context, error_lines, expand_model, query, split_model};
use crate::macros::{MacroContext, MacroErrorKind, expand};
use crate::model::{Dialect, ModelKind};

fn errors_of(file: &str, name: &str) -> Vec<String> {
    error_lines(&expand_model(file, name, &[]))
}

fn kinds(file: &str, name: &str) -> Vec<MacroErrorKind> {
    match expand_model(file, name, &[]) {
        Ok(e) => panic!("expected errors, got {}", e.sql),
        Err(errors) => errors.iter().map(|e| e.kind).collect(),
    }
}

macro_rules! errors {
    ($file:literal) => {
        include_str!(concat!("../testdata/errors/", $file, ".sql"))
    };
}

#[test]
fn unknown_macro_function_is_named_as_a_function() {
    // SQLMesh: "Macro 'COALESCE' does not exist." at load.
    let lines = errors_of(errors!("err_coalesce"), "mc.err_coalesce");
    assert_eq!(lines.len(), 1);
    // The text after `MODEL (...);` starts on the MODEL line: its lines are the file's.
    assert!(
        lines[0].starts_with("2:8: @COALESCE: unknown macro function"),
        "{lines:?}"
    );
}

#[test]
fn unknown_statement_macro_is_reported_at_expansion() {
    // SQLMesh loads `@SET(x, 1);` and fails only when the plan runs it.
    let lines = errors_of(errors!("err_set"), "mc.err_set");
    assert!(
        lines[0].starts_with("2:1: @SET: unknown macro function"),
        "{lines:?}"
    );
}

#[test]
fn start_and_end_are_undefined_in_full_queries() {
    let lines = errors_of(errors!("err_full_start_ds"), "mc.err_full_start_ds");
    assert!(
        lines[0].starts_with("2:8: @start_ds: is not defined in a FULL model's query"),
        "{lines:?}"
    );
    // The same through a model whose statements are Jinja blocks.
    let lines = errors_of(
        errors!("err_jinja_stmt_start_ds"),
        "mc.err_jinja_stmt_start_ds",
    );
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("8:11: @start_ds:"), "{lines:?}");
    // Pre/post statements of a FULL model do get them.
    let ctx = context("mc.f", ModelKind::Full);
    let e = expand(
        "CREATE TABLE t AS SELECT @start_ds AS s; SELECT 1 AS a",
        &ctx,
    )
    .expect("expands");
    assert_eq!(
        e.statements[0].sql,
        "CREATE TABLE t AS SELECT '2024-01-01' AS s"
    );
}

#[test]
fn model_kind_name_is_not_a_query_variable() {
    assert_eq!(
        kinds(errors!("err_model_kind_name"), "mc.err_model_kind_name"),
        [MacroErrorKind::UnknownVariable]
    );
}

#[test]
fn env_var_is_only_for_config_files() {
    let lines = errors_of(errors!("err_jinja_env_var_in_model"), "mc.jinja_env_var");
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].contains("{{ env_var('MC_ENV_STR', 'model_default') }}"),
        "{lines:?}"
    );
    assert!(
        lines[0].contains("only available in config.yaml"),
        "{lines:?}"
    );
}

#[test]
fn python_macros_are_named_not_run() {
    let file = include_str!("../testdata/models/python_macro_cases.sql");
    let lines = errors_of(file, "mc.python_macro_cases");
    let named: Vec<&str> = lines.iter().filter_map(|l| l.split(": ").nth(1)).collect();
    assert_eq!(
        named,
        [
            "@add_one",
            "@upper_str",
            "@multiply",
            "@typed_sum",
            "@col_list",
            "@var_from_python",
            "@this_model_name"
        ]
    );
    assert!(
        lines
            .iter()
            .all(|l| l.contains("needs Python, which Sluice does not run"))
    );
    assert_eq!(
        kinds(
            errors!("quirk_python_macro_returns_str"),
            "mc.quirk_python_macro_returns_str"
        ),
        [MacroErrorKind::PythonMacro]
    );
}

/// SQLMesh's quirks that render (and then fail or surprise at run time) render the same here.
#[test]
fn quirks_render_as_in_sqlmesh() {
    let cases: &[(&str, &str, &str)] = &[
        (
            errors!("quirk_def_ident_column"),
            "mc.quirk_def_ident_column",
            "SELECT abc AS s_identifier",
        ),
        (
            errors!("quirk_eval_string_result"),
            "mc.quirk_eval_string_result",
            "SELECT AB AS upper_str, 6 AS six",
        ),
        (
            errors!("quirk_lambda_arg_in_nested_macro"),
            "mc.quirk_lambda_arg_in_nested_macro",
            "SELECT c + 1 AS a_inc, c + 1 AS d_inc, y + 1 AS a_inc2, y + 1 AS d_inc2, a + 1 AS a_inc3, \
             d + 1 AS d_inc3 FROM (SELECT 1 AS a, 2 AS c, 4 AS d) AS t",
        ),
        (
            errors!("quirk_millis_full"),
            "mc.quirk_millis_full",
            "SELECT 1704326400000 AS execution_millis, 1704326400.0 AS execution_epoch",
        ),
        (
            errors!("quirk_millis_incr"),
            "mc.quirk_millis_incr",
            "SELECT CAST('2024-01-01' AS DATE) AS d, 1704067200000 AS start_millis, 1704326399999 AS end_millis",
        ),
        (
            errors!("quirk_star_without_alias"),
            "mc.quirk_star_without_alias",
            "SELECT CAST(src.a AS INT) AS a, CAST(src.b AS TEXT) AS b FROM mc.src AS f",
        ),
        (
            errors!("quirk_this_model_as_column"),
            "mc.quirk_this_model_as_column",
            "SELECT macro_cases.mc.quirk_this_model_as_column AS this_model_val",
        ),
        (
            errors!("quirk_tuple_literal"),
            "mc.quirk_tuple_literal",
            "SELECT (1, 2) AS tup",
        ),
    ];
    for (file, name, sqlmesh) in cases {
        let ours = query(&expand_model(file, name, &[]));
        assert_same(&ours, sqlmesh);
    }
}

#[test]
fn each_where_one_expression_is_expected_is_an_error() {
    // SQLMesh leaves `@EACH` unexpanded here, and the query fails in DuckDB.
    let lines = errors_of(
        errors!("quirk_each_in_is_not_null"),
        "mc.quirk_each_in_is_not_null",
    );
    assert!(
        lines[0].starts_with("3:7: @EACH: produces 2 expressions here"),
        "{lines:?}"
    );
}

#[test]
fn eval_computes_concatenation() {
    // SQLMesh's executor fails on `||` (NameError: DPIPE); the result is an identifier.
    let ours = query(&expand_model(
        errors!("err_eval_concat"),
        "mc.err_eval_concat",
        &[],
    ));
    assert_same(&ours, "SELECT ab AS s");
}

#[test]
fn every_error_in_one_pass_with_its_position() {
    let sql = "\
@DEF(f, (x, y) -> x + y);
SELECT
  @nope(a) AS one,
  @missing AS two,
  @add_one(b) AS three,
  @f(1) AS four,
  @IF(a > 0, 1) AS five,
  @STAR(mc.unknown),
  @EACH([1, 2], x -> x) + 1 AS six
FROM t
WHERE d > @start_ds";
    let mut ctx = context("mc.m", ModelKind::Full);
    ctx.python_macros.insert("add_one".into());
    let errors = expand(sql, &ctx).expect_err("fails");
    let got: Vec<(usize, usize, &str, MacroErrorKind)> = errors
        .iter()
        .map(|e| (e.line, e.column, e.construct.as_str(), e.kind))
        .collect();
    use MacroErrorKind::*;
    assert_eq!(
        got,
        [
            (3, 3, "@nope", UnknownFunction),
            (4, 3, "@missing", UnknownVariable),
            (5, 3, "@add_one", PythonMacro),
            (6, 3, "@f", InvalidArguments),
            (7, 3, "@IF", Evaluation),
            (8, 3, "@STAR", MissingColumns),
            (9, 3, "@EACH", InvalidArguments),
            (11, 11, "@start_ds", UnknownVariable),
        ]
    );
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(text[1].contains("unknown macro variable"), "{text:?}");
    assert!(
        text[4].contains("the column a, which has no value"),
        "{text:?}"
    );
    assert!(
        text[5].contains("columns and types of mc.unknown"),
        "{text:?}"
    );
    assert!(
        text.iter()
            .all(|t| !t.contains("__") && !t.contains("Val") && !t.contains("Tok"))
    );
}

#[test]
fn a_variable_called_as_a_function_says_so() {
    let ctx = MacroContext::new("m", ModelKind::Full, Dialect::Duckdb);
    let errors = expand("@DEF(z, 1);\nSELECT @z(1) AS a, @each AS b", &ctx).expect_err("fails");
    assert!(
        errors[0]
            .message
            .contains("@z is a macro variable, not a function"),
        "{errors:?}"
    );
    assert!(
        errors[1].message.contains("@each is a macro function"),
        "{errors:?}"
    );
}

#[test]
fn values_known_at_run_time_are_left_or_reported() {
    let mut ctx = context("mc.m", super::incremental());
    ctx.times = None;
    ctx.this_model = None;
    let e = expand(
        "SELECT @start_ds AS s, @EACH([@end_ds], x -> x) AS e FROM @this_model",
        &ctx,
    )
    .expect("expands");
    assert_eq!(
        e.statements[0].sql,
        "SELECT @start_ds AS s, @end_ds AS e FROM @this_model"
    );
    let deferred: Vec<&str> = e.deferred.iter().map(String::as_str).collect();
    assert_eq!(deferred, ["end_ds", "start_ds", "this_model"]);

    let errors = expand(
        "SELECT @IF(@start_ds > '2024-01-01', 1, 2) AS x, 1 AS col_@{end_ds}",
        &ctx,
    )
    .expect_err("needs times");
    assert!(
        errors
            .iter()
            .all(|e| e.kind == MacroErrorKind::NeedsRunTime),
        "{errors:?}"
    );
    assert_eq!(errors.len(), 2);
    let (_, body) = split_model(include_str!("../testdata/models/jinja_vars.sql"));
    let errors = expand(body, &ctx).expect_err("needs this_model");
    // Line 2 of the text after the 5-line MODEL block: the JINJA_QUERY_BEGIN line.
    assert_eq!(
        (errors[0].line, errors[0].construct.as_str()),
        (2, "{{ this_model }}")
    );
    ctx.this_model = Some("t".into());
    let errors = expand(body, &ctx).expect_err("needs times");
    assert_eq!(errors[0].kind, MacroErrorKind::NeedsRunTime);
    assert_eq!(
        (errors[0].line, errors[0].construct.as_str()),
        (2, "{{ end_ds }}")
    );
}

#[test]
fn jinja_errors_point_into_the_block_or_the_macro_file() {
    let mut ctx = context("mc.m", ModelKind::Full);
    let sql = "JINJA_QUERY_BEGIN;\nSELECT 1 AS a,\n  {{ nope(1) }} AS b\nJINJA_END;";
    let errors = expand(sql, &ctx).expect_err("fails");
    assert_eq!((errors[0].line, errors[0].column), (3, 6), "{errors:?}");
    assert_eq!(errors[0].construct, "{{ nope(1) }}");

    ctx.jinja_macros[0].source = "{% macro broken(x) %}\n  {{ x + }}\n{% endmacro %}".into();
    let errors = expand("JINJA_QUERY_BEGIN;\nSELECT 1\nJINJA_END;", &ctx).expect_err("fails");
    assert_eq!(errors[0].file.as_deref(), Some("macros/jmacros.sql"));
    assert_eq!(errors[0].line, 2, "{errors:?}");
}
