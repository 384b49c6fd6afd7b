use super::fixtures::{AUDIT_CASES, custom_audits};
use super::*;
use crate::project::parse_audit_call;

fn render(call: &str) -> String {
    render_audit(&parse_audit_call(call).unwrap(), &custom_audits(), "t").unwrap()
}

fn render_err(call: &str) -> AuditError {
    render_audit(&parse_audit_call(call).unwrap(), &custom_audits(), "t").unwrap_err()
}

#[test]
fn every_fixture_case_renders() {
    for case in AUDIT_CASES {
        case.render("audit_fixture")
            .unwrap_or_else(|e| panic!("{}: {e}", case.call));
    }
}

#[test]
fn not_null_checks_each_column() {
    assert_eq!(
        render("not_null(columns := [id, name])"),
        "SELECT * FROM t WHERE id IS NULL OR name IS NULL"
    );
    assert_eq!(
        render("not_null(columns := (id), condition := a > 1 OR b)"),
        "SELECT * FROM t WHERE (id IS NULL) AND (a > 1 OR b)"
    );
    assert_eq!(
        render("not_null_non_blocking(columns := [\"Odd Col\", lower(x)])"),
        "SELECT * FROM t WHERE \"Odd Col\" IS NULL OR (lower(x)) IS NULL"
    );
}

#[test]
fn unique_values_ranks_each_column_separately() {
    assert_eq!(
        render("unique_values(columns := (id, \"Odd Col\"))"),
        "SELECT * FROM (SELECT ROW_NUMBER() OVER (PARTITION BY id ORDER BY id) AS rank_id, \
         ROW_NUMBER() OVER (PARTITION BY \"Odd Col\" ORDER BY \"Odd Col\") AS rank_2 FROM t) \
         AS audit_ranks WHERE rank_id > 1 OR rank_2 > 1"
    );
}

#[test]
fn accepted_and_not_accepted_values() {
    assert_eq!(
        render("accepted_values(column := status, is_in := ('a', 'b'))"),
        "SELECT * FROM t WHERE status NOT IN ('a', 'b')"
    );
    assert_eq!(
        render("not_accepted_values(column := status, is_in := 'x')"),
        "SELECT * FROM t WHERE status IN ('x')"
    );
}

#[test]
fn number_of_rows_fails_at_or_below_the_threshold() {
    assert_eq!(
        render("number_of_rows(threshold := 10)"),
        "SELECT COUNT(*) FROM (SELECT 1 AS one FROM t LIMIT 10 + 1) AS audit_limited \
         HAVING COUNT(*) <= 10"
    );
    assert!(matches!(
        render_err("number_of_rows(threshold := ten)"),
        AuditError::InvalidArgument { argument, .. } if argument == "threshold"
    ));
}

#[test]
fn forall_negates_each_criterion() {
    assert_eq!(
        render("forall(criteria := (x > 0, y < 10))"),
        "SELECT * FROM t WHERE NOT (x > 0) OR NOT (y < 10)"
    );
}

#[test]
fn accepted_range_bounds_and_inclusivity() {
    assert_eq!(
        render("accepted_range(column := x, min_v := 0, max_v := 100)"),
        "SELECT * FROM t WHERE x < 0 OR x > 100"
    );
    assert_eq!(
        render("accepted_range(column := x, max_v := 100, inclusive := false)"),
        "SELECT * FROM t WHERE x >= 100"
    );
    assert_eq!(
        render("accepted_range(column := x, min_v := NULL, max_v := 5)"),
        "SELECT * FROM t WHERE x > 5"
    );
    assert_eq!(
        render_err("accepted_range(column := x)").to_string(),
        "audit 'accepted_range' needs argument 'min_v or max_v'"
    );
}

#[test]
fn aggregate_audits() {
    assert_eq!(
        render("at_least_one(column := x)"),
        "SELECT 1 AS one FROM t GROUP BY 1 HAVING COUNT(x) = 0"
    );
    assert_eq!(
        render("not_constant(column := x, condition := y = 1)"),
        "SELECT 1 AS one FROM (SELECT COUNT(DISTINCT x) AS t_cardinality FROM t WHERE y = 1) \
         AS r WHERE r.t_cardinality <= 1"
    );
    assert_eq!(
        render("unique_combination_of_columns(columns := (a, b))"),
        "SELECT a, b FROM t GROUP BY a, b HAVING COUNT(*) > 1"
    );
    assert_eq!(
        render("not_empty_string(column := name)"),
        "SELECT * FROM t WHERE name = ''"
    );
}

#[test]
fn subquery_model_is_substituted_verbatim() {
    let model = "(SELECT * FROM s.t WHERE d >= '2024-01-01') AS t";
    let sql = render_audit(
        &parse_audit_call("not_null(columns := [id])").unwrap(),
        &BTreeMap::new(),
        model,
    )
    .unwrap();
    assert_eq!(sql, format!("SELECT * FROM {model} WHERE id IS NULL"));
}

#[test]
fn custom_audits_substitute_args_then_defaults() {
    assert_eq!(
        render("amount_below(column := amount)"),
        "SELECT * FROM t WHERE amount < 0"
    );
    assert_eq!(
        render("amount_below_non_blocking(column := amount, threshold := 15)"),
        "SELECT * FROM t WHERE amount < 15"
    );
    let mut audits = custom_audits();
    let audit = audits.get_mut("amount_below").unwrap();
    audit.query = "SELECT @{column}, '@column' FROM @this_model WHERE @column IN (@values) \
                   AND d >= @start_ds"
        .into();
    let call = parse_audit_call("amount_below(column := a, values := [1, 2])").unwrap();
    assert_eq!(
        render_audit(&call, &audits, "m").unwrap(),
        "SELECT a, '@column' FROM m WHERE a IN (1, 2) AND d >= @start_ds"
    );
    // Right after IN, a list is written as a tuple, as SQLMesh does.
    let audit = audits.get_mut("amount_below").unwrap();
    audit.query = "SELECT * FROM @this_model WHERE @column not in @values".into();
    let call = parse_audit_call("amount_below(column = a, values = ARRAY['x', 'y'])").unwrap();
    assert_eq!(
        render_audit(&call, &audits, "m").unwrap(),
        "SELECT * FROM m WHERE a not in ('x', 'y')"
    );
}

#[test]
fn missing_and_unknown_names_are_errors() {
    assert_eq!(
        render_err("amount_below(threshold := 1)").to_string(),
        "audit 'amount_below' needs argument 'column'"
    );
    assert_eq!(
        render_err("not_null(column := id)").to_string(),
        "audit 'not_null' needs argument 'columns'"
    );
    assert_eq!(
        render_err("no_such_audit").to_string(),
        "unknown audit 'no_such_audit': not a built-in audit and not defined in audits/"
    );
}

#[test]
fn blocking_follows_argument_then_name_then_definition() {
    let custom = custom_audits();
    let blocking = |call: &str| is_blocking(&parse_audit_call(call).unwrap(), &custom);
    assert!(blocking("not_null(columns := [id])"));
    assert!(!blocking("not_null_non_blocking(columns := [id])"));
    assert!(!blocking("not_null(columns := [id], blocking := false)"));
    let mut custom = custom;
    custom.get_mut("amount_below").unwrap().blocking = false;
    assert!(!is_blocking(
        &parse_audit_call("amount_below(column := a)").unwrap(),
        &custom
    ));
}

/// Prints every fixture case's SQL, one per line, for checking against a real warehouse:
/// `cargo test -p sluice --lib audit::tests::print_fixture_sql -- --ignored --nocapture`.
#[test]
#[ignore]
fn print_fixture_sql() {
    let filtered = "(SELECT * FROM audit_fixture WHERE id > 0) AS audit_fixture";
    for case in AUDIT_CASES {
        for model in ["audit_fixture", filtered] {
            println!("{}\t{}", case.violations, case.render(model).unwrap());
        }
    }
}
