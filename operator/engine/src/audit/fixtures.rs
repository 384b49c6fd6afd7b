//! A small table and audit calls with the number of rows each must return on it, so that
//! warehouse-backed tests can check the rendered SQL on DuckDB and PostgreSQL alike:
//!
//! ```ignore
//! for stmt in FIXTURE_SETUP { db.execute(stmt) }
//! for case in AUDIT_CASES {
//!     let sql = case.render(FIXTURE_TABLE).unwrap();
//!     assert_eq!(db.query(&sql).len(), case.violations, "{}", case.call);
//! }
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{AuditError, render_audit};
use crate::model::{AuditArg, AuditCall, CustomAudit};

pub const FIXTURE_TABLE: &str = "audit_fixture";

/// Creates and fills [`FIXTURE_TABLE`]; portable between DuckDB and PostgreSQL.
pub const FIXTURE_SETUP: &[&str] = &[
    "CREATE TABLE audit_fixture (id INTEGER, name TEXT, status TEXT, amount INTEGER, url TEXT)",
    "INSERT INTO audit_fixture VALUES \
     (1, 'a', 'new', 10, 'https://x.io'), \
     (2, 'b', 'done', 20, 'ftp://files.example.com/x'), \
     (2, '', 'lost', -5, 'not a url'), \
     (4, NULL, 'new', NULL, NULL)",
];

/// An audit call as written in a MODEL header and how many rows it returns on the fixture.
#[derive(Debug, Clone, Copy)]
pub struct AuditCase {
    pub call: &'static str,
    pub violations: usize,
}

impl AuditCase {
    pub fn audit_call(&self) -> AuditCall {
        crate::project::parse_audit_call(self.call)
            .unwrap_or_else(|e| panic!("fixture audit call {}: {e}", self.call))
    }

    /// Renders the case against `this_model` with [`custom_audits`] available.
    pub fn render(&self, this_model: &str) -> Result<String, AuditError> {
        render_audit(&self.audit_call(), &custom_audits(), this_model)
    }
}

const fn case(call: &'static str, violations: usize) -> AuditCase {
    AuditCase { call, violations }
}

pub const AUDIT_CASES: &[AuditCase] = &[
    case("not_null(columns := [id, name])", 1),
    case("not_null(columns := [id])", 0),
    case("not_null(columns := (name), condition := amount > 0)", 0),
    case("not_null_non_blocking(columns := [name])", 1),
    case("unique_values(columns := [id])", 1),
    case("unique_values(columns := [amount])", 0),
    case("unique_values(columns := (name, status))", 1),
    case(
        "accepted_values(column := status, is_in := ('new', 'done'))",
        1,
    ),
    case(
        "accepted_values(column := status, is_in := ('new', 'done', 'lost'))",
        0,
    ),
    case(
        "not_accepted_values(column := status, is_in := ['lost'])",
        1,
    ),
    case(
        "not_accepted_values(column := status, is_in := ['archived'])",
        0,
    ),
    case("number_of_rows(threshold := 3)", 0),
    case("number_of_rows(threshold := 4)", 1),
    case("number_of_rows(threshold := 2, condition := id > 1)", 0),
    case("forall(criteria := [amount > 0, id < 10])", 1),
    case("forall(criteria := (id > 0))", 0),
    case("accepted_range(column := amount, min_v := 0)", 1),
    case(
        "accepted_range(column := amount, min_v := -10, max_v := 20)",
        0,
    ),
    case(
        "accepted_range(column := amount, min_v := 10, max_v := 20)",
        1,
    ),
    case(
        "accepted_range(column := amount, min_v := 10, max_v := 20, inclusive := false)",
        3,
    ),
    case("at_least_one(column := name)", 0),
    case("at_least_one(column := amount, condition := id = 4)", 1),
    case("not_constant(column := id)", 0),
    case("not_constant(column := id, condition := id = 2)", 1),
    case("not_empty_string(column := name)", 1),
    case("not_empty_string(column := status)", 0),
    case("unique_combination_of_columns(columns := (id, status))", 0),
    case("unique_combination_of_columns(columns := [id])", 1),
    case("not_null_proportion(column := name, threshold := 0.9)", 1),
    case("not_null_proportion(column := name, threshold := 0.5)", 0),
    case("sequential_values(column := id)", 2),
    case("string_length_between(column := name, min_v := 1)", 1),
    case("string_length_equal(column := status, v := 3)", 2),
    case(
        "mean_in_range(column := amount, min_v := 0, max_v := 10)",
        0,
    ),
    case("mean_in_range(column := amount, max_v := 5)", 1),
    case("stddev_in_range(column := amount, max_v := 1)", 1),
    case("z_score(column := amount, threshold := 1)", 1),
    case("z_score(column := amount, threshold := 2)", 0),
    case(
        "match_like_pattern_list(column := status, patterns := ['n%', 'd%'])",
        1,
    ),
    case(
        "not_match_like_pattern_list(column := status, patterns := ['l%'])",
        1,
    ),
    case("valid_url(column := url)", 1),
    case("valid_email(column := name)", 3),
    case("valid_uuid(column := name)", 3),
    case("valid_http_method(column := status)", 4),
    case("amount_below(column := amount)", 1),
    case("amount_below(column := amount, threshold := 15)", 2),
];

/// Custom audits the cases may call, as if loaded from `audits/`.
pub fn custom_audits() -> BTreeMap<String, CustomAudit> {
    let audit = CustomAudit {
        name: "amount_below".into(),
        path: PathBuf::from("audits/amount_below.sql"),
        query: "SELECT * FROM @this_model WHERE @column < @threshold".into(),
        defaults: BTreeMap::from([("threshold".into(), AuditArg::Scalar("0".into()))]),
        blocking: true,
        standalone: false,
    };
    BTreeMap::from([(audit.name.clone(), audit)])
}
