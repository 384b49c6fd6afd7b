//! One test per built-in macro and per feature: each model of the test project, expanded,
//! is the same query as SQLMesh's unoptimized render of it (`testdata/unoptimized/`), up to
//! the normalization of `normalize` (formatting, identifier quoting and SQLMesh's own
//! aliases). The optimized renders SQLMesh prints (`testdata/expected/`) were checked too, by
//! rendering our expansions with SQLMesh: see `testdata/README.md`.

use super::normalize::assert_same;
use super::{expand_model, query, split_model};

/// Writes the expansion as a model file into `$SLUICE_MACROS_DUMP`, when set, so that
/// SQLMesh can render it for comparison with its own render of the macro version.
fn dump(name: &str, header: &str, sql: &str) {
    let Ok(dir) = std::env::var("SLUICE_MACROS_DUMP") else {
        return;
    };
    let kind = if header.contains("INCREMENTAL_BY_TIME_RANGE") {
        "INCREMENTAL_BY_TIME_RANGE (time_column event_date), cron '@daily'"
    } else {
        "FULL"
    };
    let file = format!("MODEL (name {name}, kind {kind});\n{sql};\n");
    let path = std::path::Path::new(&dir).join(format!("{name}.sql"));
    std::fs::write(&path, file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn check(file: &str, name: &str, sqlmesh: &str, blueprint: &[(&str, &str)]) {
    let result = expand_model(file, name, blueprint);
    let ours = query(&result);
    dump(name, split_model(file).0, &ours);
    assert_same(&ours, sqlmesh);
}

macro_rules! case {
    ($test:ident, $file:literal, $model:literal $(, $k:literal => $v:literal)*) => {
        #[test]
        fn $test() {
            check(
                include_str!(concat!("../testdata/models/", $file, ".sql")),
                $model,
                include_str!(concat!("../testdata/unoptimized/", $model, ".sql")),
                &[$(($k, $v)),*],
            );
        }
    };
}

// The macro language.
case!(def_values_and_identifiers, "def_basic", "mc.def_basic");
case!(
    def_lambdas_without_parentheses,
    "def_lambda",
    "mc.def_lambda"
);
case!(
    literals_and_lambda_forms,
    "literals_lambdas",
    "mc.literals_lambdas"
);
case!(nested_macros, "nested_macros", "mc.nested_macros");
case!(
    macro_variables_of_a_full_model,
    "macro_vars_full",
    "mc.macro_vars_full"
);
case!(
    macro_variables_of_an_incremental_model,
    "macro_vars_incr",
    "mc.macro_vars_incr"
);
case!(project_and_gateway_variables, "var_cases", "mc.var_cases");

// Built-in macro functions.
case!(if_, "if_cases", "mc.if_cases");
case!(each, "each_cases", "mc.each_cases");
case!(reduce_and_filter, "reduce_filter", "mc.reduce_filter");
case!(sql, "sql_macro", "mc.sql_macro");
case!(eval, "eval_cases", "mc.eval_cases");
case!(and_or, "and_or", "mc.and_or");
case!(star, "star_cases", "mc.star_cases");
case!(union, "union_cases", "mc.union_cases");
case!(generate_surrogate_key, "surrogate_key", "mc.surrogate_key");
case!(safe_add_sub_div, "safe_math", "mc.safe_math");
case!(pivot, "pivot_cases", "mc.pivot_cases");
case!(deduplicate, "dedup", "mc.dedup");
case!(date_spine, "date_spine_cases", "mc.date_spine_cases");
case!(clause_macros, "clause_ops", "mc.clause_ops");
case!(
    haversine_distance_and_resolve_template,
    "misc_builtin",
    "mc.misc_builtin"
);
case!(
    this_model_in_statements,
    "this_model_cases",
    "mc.this_model_cases"
);
case!(blueprint_var_one, "blueprint_cases", "mc.bp_one",
    "suffix" => "one", "field_a" => "a", "field_c" => "'foo'", "num" => "1");
case!(blueprint_var_two, "blueprint_cases", "mc.bp_two",
    "suffix" => "two", "field_a" => "d", "field_c" => "'bar'", "num" => "2");

// Jinja.
case!(
    jinja_query_block_and_project_macros,
    "jinja_query",
    "mc.jinja_query"
);
case!(jinja_context_variables, "jinja_vars", "mc.jinja_vars");
case!(
    jinja_statement_blocks,
    "jinja_statements",
    "mc.jinja_statements"
);
case!(
    jinja_time_variables_of_a_full_model,
    "jinja_full_start_ds",
    "mc.jinja_full_start_ds"
);
case!(
    jinja_and_sqlmesh_macros_together,
    "mixed_jinja_sqlmesh",
    "mc.mixed_jinja_sqlmesh"
);
case!(jinja_blueprint_var_one, "jinja_blueprint", "mc.jbp_one", "suffix" => "one", "col" => "a");
case!(jinja_blueprint_var_two, "jinja_blueprint", "mc.jbp_two", "suffix" => "two", "col" => "d");

#[test]
fn statements_keep_their_place_and_defs_go() {
    let file = include_str!("../testdata/models/if_cases.sql");
    let expanded = expand_model(file, "mc.if_cases", &[]).expect("expands");
    let kinds: Vec<(bool, usize)> = expanded
        .statements
        .iter()
        .map(|s| (s.is_query, s.line))
        .collect();
    // `@DEF(x, 3);` is gone; the pre-statement stays; the false `@IF` post-statement is gone.
    assert_eq!(kinds, [(false, 3), (true, 4)]);
    assert!(expanded.statements[0].sql.starts_with("CREATE SCHEMA"));
    assert!(!expanded.sql.contains("@DEF") && !expanded.sql.contains("@IF"));

    let file = include_str!("../testdata/models/this_model_cases.sql");
    let expanded = expand_model(file, "mc.this_model_cases", &[]).expect("expands");
    let post = &expanded.statements[2];
    assert_eq!(
        post.sql,
        "CREATE OR REPLACE TABLE mc_side.this_model_copy AS SELECT * FROM \"macro_cases\".\"mc\".\"this_model_cases\""
    );
}
