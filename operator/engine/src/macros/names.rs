//! Names the expander and the built-ins both go by: SQLMesh's built-in macro functions, the
//! clause macros' keywords, and the SQL words that end a list of expressions. Kept apart so
//! that the built-ins depend on the expander and not the other way round.

const BUILTINS: &[&str] = &[
    "and",
    "or",
    "if",
    "each",
    "reduce",
    "filter",
    "eval",
    "sql",
    "var",
    "blueprint_var",
    "star",
    "union",
    "generate_surrogate_key",
    "safe_add",
    "safe_sub",
    "safe_div",
    "pivot",
    "deduplicate",
    "date_spine",
    "haversine_distance",
    "resolve_template",
    "with",
    "join",
    "where",
    "group_by",
    "having",
    "order_by",
    "limit",
];

pub(crate) fn is_builtin(name: &str) -> bool {
    BUILTINS.iter().any(|b| b.eq_ignore_ascii_case(name))
}

/// The SQL keyword of a clause macro (`@GROUP_BY` → `GROUP BY`).
pub(crate) fn clause_keyword(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "with" => "WITH",
        "join" => "JOIN",
        "where" => "WHERE",
        "group_by" => "GROUP BY",
        "having" => "HAVING",
        "order_by" => "ORDER BY",
        "limit" => "LIMIT",
        _ => return None,
    })
}

/// Words before which a list of expressions may end.
pub(crate) const CLAUSE_WORDS: &[&str] = &[
    "FROM",
    "WHERE",
    "GROUP",
    "HAVING",
    "QUALIFY",
    "WINDOW",
    "ORDER",
    "LIMIT",
    "OFFSET",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "INTO",
];
