//! Change categories, as SQLMesh assigns them.
//!
//! A direct change is *non-breaking* when the only difference is projections added to SELECT
//! lists (at any position, in the outer query, a CTE, a derived table or every branch of a set
//! operation) and nothing else changed: downstream models cannot be affected by a column they
//! do not read. As in SQLMesh, this holds even where the added column changes the grain
//! (`DISTINCT`, `GROUP BY ALL`) or adds an aggregate, but not where it shifts a positional
//! `ORDER BY n` / `GROUP BY n`, or calls a row-multiplying function (`UNNEST`). A data change
//! with the same query (declared column types, the cron's interval unit) is non-breaking too.
//! Anything else that touches the data (filters, joins, expressions, casts, reordering, adding
//! `DISTINCT`, a kind or lookback change) is *breaking*. A change that leaves the data hash
//! alone is *metadata*.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, GroupByExpr, OrderByKind, Query, Select, SelectItem, SetExpr, TableFactor, Value,
    visit_expressions,
};

use crate::graph::Node;
use crate::model::{Model, ModelKind};
use crate::snapshot::Category;
use crate::sql::parse_query_ast;

/// Categorizes a directly modified model, given the previous snapshot's node and fingerprint
/// data hash and the new ones.
pub fn categorize_direct(
    old: &Node,
    old_data_hash: &str,
    new: &Node,
    new_data_hash: &str,
) -> Category {
    if old_data_hash == new_data_hash {
        return Category::Metadata;
    }
    let (old_kind, new_kind) = (&old.model.kind, &new.model.kind);
    if old_kind.name() != new_kind.name() || kind_data_changed(old_kind, new_kind) {
        return Category::Breaking;
    }
    if old.model.seed_content != new.model.seed_content {
        return Category::Breaking;
    }
    match (&old.query, &new.query) {
        // Same query: only declared column types, the dialect or the interval unit differ,
        // which SQLMesh categorizes as non-breaking.
        (Some(o), Some(n)) if o.canonical == n.canonical => Category::NonBreaking,
        (Some(_), Some(_)) if only_projections_added_to(&old.model, &new.model) => {
            Category::NonBreaking
        }
        (None, None) => Category::NonBreaking,
        _ => Category::Breaking,
    }
}

/// [`only_projections_added`] on the two models' queries (parsed again: the graph keeps no
/// syntax trees, and only directly modified models get here).
fn only_projections_added_to(old: &Model, new: &Model) -> bool {
    let ast = |m: &Model| {
        let sql = m.query.as_deref()?;
        parse_query_ast(sql, m.dialect, m.query_line)
            .ok()
            .map(|(ast, _)| ast)
    };
    match (ast(old), ast(new)) {
        (Some(o), Some(n)) => only_projections_added(&o, &n),
        _ => false,
    }
}

/// Kind arguments whose change rewrites history: time column, unique key, lookback (SQLMesh
/// cannot tell what a lookback change does to the data, so it calls it breaking).
fn kind_data_changed(old: &ModelKind, new: &ModelKind) -> bool {
    match (old, new) {
        (
            ModelKind::IncrementalByTimeRange {
                time_column: a,
                lookback: la,
                ..
            },
            ModelKind::IncrementalByTimeRange {
                time_column: b,
                lookback: lb,
                ..
            },
        ) => a != b || la != lb,
        (
            ModelKind::IncrementalByUniqueKey { unique_key: a, .. },
            ModelKind::IncrementalByUniqueKey { unique_key: b, .. },
        ) => a != b,
        _ => false,
    }
}

/// Whether `new` is `old` with extra projections in one or more SELECT lists and nothing else.
pub fn only_projections_added(old: &Query, new: &Query) -> bool {
    let mut old_selects = Vec::new();
    collect_selects(old, &mut old_selects);
    let mut new_selects = Vec::new();
    collect_selects(new, &mut new_selects);
    if old_selects.len() != new_selects.len() {
        return false;
    }
    let mut keeps = Vec::with_capacity(new_selects.len());
    let mut added_any = false;
    let mut shifted = false;
    for (old_select, new_select) in old_selects.iter().zip(&new_selects) {
        let old_items: Vec<String> = old_select
            .projection
            .iter()
            .map(ToString::to_string)
            .collect();
        let Some(kept) = subsequence_positions(&old_items, &new_select.projection) else {
            return false;
        };
        let mut added = new_select
            .projection
            .iter()
            .enumerate()
            .filter(|(i, _)| !kept.contains(i));
        if added.any(|(_, p)| changes_row_count(p)) {
            return false;
        }
        added_any |= kept.len() < new_select.projection.len();
        shifted |= kept
            .iter()
            .enumerate()
            .any(|(old_i, &new_i)| old_i != new_i);
        keeps.push(kept);
    }
    if !added_any || (shifted && has_positional_reference(new)) {
        return false;
    }
    let mut pruned = new.clone();
    prune_query(&mut pruned, &keeps, &mut 0);
    pruned.to_string() == old.to_string()
}

/// Keeps only the projections at `keeps[i]` in the i-th SELECT (in `collect_selects` order).
fn prune_query(query: &mut Query, keeps: &[BTreeSet<usize>], next: &mut usize) {
    if let Some(with) = &mut query.with {
        for cte in &mut with.cte_tables {
            prune_query(&mut cte.query, keeps, next);
        }
    }
    prune_body(query.body.as_mut(), keeps, next);
}

fn prune_body(body: &mut SetExpr, keeps: &[BTreeSet<usize>], next: &mut usize) {
    match body {
        SetExpr::Select(select) => {
            for twj in select.from.iter_mut() {
                let factors = std::iter::once(&mut twj.relation)
                    .chain(twj.joins.iter_mut().map(|j| &mut j.relation));
                for factor in factors {
                    if let TableFactor::Derived { subquery, .. } = factor {
                        prune_query(subquery, keeps, next);
                    }
                }
            }
            let keep = &keeps[*next];
            *next += 1;
            let projection = std::mem::take(&mut select.projection);
            select.projection = projection
                .into_iter()
                .enumerate()
                .filter(|(i, _)| keep.contains(i))
                .map(|(_, p)| p)
                .collect();
        }
        SetExpr::Query(q) => prune_query(q, keeps, next),
        SetExpr::SetOperation { left, right, .. } => {
            prune_body(left, keeps, next);
            prune_body(right, keeps, next);
        }
        _ => {}
    }
}

/// Whether any `ORDER BY` or `GROUP BY` in the query refers to a column by position, which an
/// inserted projection would silently shift.
fn has_positional_reference(query: &Query) -> bool {
    let is_position =
        |e: &Expr| matches!(e, Expr::Value(v) if matches!(v.value, Value::Number(..)));
    let order_by = query.order_by.as_ref().is_some_and(|o| match &o.kind {
        OrderByKind::Expressions(exprs) => exprs.iter().any(|e| is_position(&e.expr)),
        OrderByKind::All(_) => false,
    });
    if order_by {
        return true;
    }
    let ctes = query
        .with
        .iter()
        .flat_map(|w| &w.cte_tables)
        .any(|cte| has_positional_reference(&cte.query));
    ctes || body_has_positional_reference(&query.body, &is_position)
}

fn body_has_positional_reference(body: &SetExpr, is_position: &dyn Fn(&Expr) -> bool) -> bool {
    match body {
        SetExpr::Select(select) => {
            let group_by = matches!(&select.group_by,
                GroupByExpr::Expressions(exprs, _) if exprs.iter().any(is_position));
            let derived = select.from.iter().any(|twj| {
                std::iter::once(&twj.relation)
                    .chain(twj.joins.iter().map(|j| &j.relation))
                    .any(|f| matches!(f, TableFactor::Derived { subquery, .. } if has_positional_reference(subquery)))
            });
            group_by || derived
        }
        SetExpr::Query(q) => has_positional_reference(q),
        SetExpr::SetOperation { left, right, .. } => {
            body_has_positional_reference(left, is_position)
                || body_has_positional_reference(right, is_position)
        }
        _ => false,
    }
}

/// Positions in `new` matching `old` in order (greedy), or `None` if `old` is not a
/// subsequence of `new`.
fn subsequence_positions(old: &[String], new: &[SelectItem]) -> Option<BTreeSet<usize>> {
    let mut kept = BTreeSet::new();
    let mut next = 0;
    for item in old {
        let found = (next..new.len()).find(|&i| new[i].to_string() == *item)?;
        kept.insert(found);
        next = found + 1;
    }
    Some(kept)
}

/// A projection that calls a table-generating function (UNNEST, EXPLODE, GENERATE_SERIES)
/// multiplies rows, so adding it is breaking even as an extra column.
fn changes_row_count(item: &SelectItem) -> bool {
    let mut found = false;
    let _ = visit_expressions(item, |e: &Expr| {
        if let Expr::Function(f) = e {
            let name = f.name.to_string().to_ascii_lowercase();
            if matches!(
                name.as_str(),
                "unnest" | "explode" | "generate_series" | "range" | "generate_subscripts"
            ) {
                found = true;
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    found
}

/// SELECT blocks in a fixed order: CTEs, then the body (derived tables before their SELECT).
fn collect_selects<'a>(query: &'a Query, out: &mut Vec<&'a Select>) {
    if let Some(with) = &query.with {
        for cte in &with.cte_tables {
            collect_selects(&cte.query, out);
        }
    }
    collect_body(&query.body, out);
}

fn collect_body<'a>(body: &'a SetExpr, out: &mut Vec<&'a Select>) {
    match body {
        SetExpr::Select(select) => {
            for twj in &select.from {
                for factor in
                    std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation))
                {
                    if let TableFactor::Derived { subquery, .. } = factor {
                        collect_selects(subquery, out);
                    }
                }
            }
            out.push(select);
        }
        SetExpr::Query(q) => collect_selects(q, out),
        SetExpr::SetOperation { left, right, .. } => {
            collect_body(left, out);
            collect_body(right, out);
        }
        _ => {}
    }
}

/// How a model that is not itself edited is affected by upstream changes: breaking if a
/// *direct* parent is breaking (or indirectly breaking), metadata if every changed parent is
/// metadata-only, otherwise non-breaking.
pub fn categorize_indirect(parent_categories: &[Category]) -> Option<Category> {
    if parent_categories.is_empty() {
        return None;
    }
    let breaking = parent_categories
        .iter()
        .any(|c| matches!(c, Category::Breaking | Category::IndirectBreaking));
    if breaking {
        Some(Category::IndirectBreaking)
    } else if parent_categories.iter().all(|c| *c == Category::Metadata) {
        Some(Category::Metadata)
    } else {
        Some(Category::IndirectNonBreaking)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::data_hash;
    use crate::graph::Dag;
    use crate::graph::tests::{model, project};

    fn node(m: Model) -> Node {
        Dag::build(&project(vec![m])).unwrap().nodes.remove(0)
    }

    fn categorize_models(old: Model, new: Model) -> Category {
        let (old, new) = (node(old), node(new));
        categorize_direct(&old, &data_hash(&old), &new, &data_hash(&new))
    }

    fn categorize(old: &str, new: &str) -> Category {
        categorize_models(model("s.m", old), model("s.m", new))
    }

    const BASE: &str = "SELECT o.id, o.amount, c.name FROM raw.orders o JOIN raw.customers c ON o.cid = c.id WHERE o.amount > 0";

    #[test]
    fn added_projections_anywhere_are_non_breaking() {
        let at_end = BASE.replace("c.name", "c.name, o.status");
        let in_middle = BASE.replace("o.amount,", "o.amount, o.amount * 2 AS doubled,");
        let at_start = BASE.replace("SELECT o.id", "SELECT 1 AS one, o.id");
        for new in [at_end, in_middle, at_start] {
            assert_eq!(categorize(BASE, &new), Category::NonBreaking, "{new}");
        }
    }

    #[test]
    fn added_aggregate_or_window_columns_are_non_breaking_but_unnest_is_breaking() {
        let window = BASE.replace("c.name", "c.name, COUNT(*) OVER () AS n");
        assert_eq!(categorize(BASE, &window), Category::NonBreaking);
        let unnest = BASE.replace("c.name", "c.name, UNNEST([1, 2]) AS x");
        assert_eq!(categorize(BASE, &unnest), Category::Breaking);
    }

    #[test]
    fn a_column_added_inside_a_cte_is_non_breaking() {
        let old = "WITH x AS (SELECT id FROM raw.t) SELECT id FROM x";
        let new = "WITH x AS (SELECT id, name FROM raw.t) SELECT id FROM x";
        assert_eq!(categorize(old, new), Category::NonBreaking);
    }

    #[test]
    fn logic_changes_are_breaking() {
        let cases = [
            BASE.replace("o.id, o.amount", "o.amount, o.id"), // reorder
            BASE.replace(", c.name", ""),                     // removed column
            BASE.replace("o.amount > 0", "o.amount > 10"),    // filter
            BASE.replace("JOIN raw.customers", "LEFT JOIN raw.customers"), // join
            BASE.replace("o.amount,", "o.amount + 1 AS amount,"), // expression
            BASE.replace("o.amount,", "CAST(o.amount AS BIGINT) AS amount,"), // cast
            BASE.replace("SELECT o.id", "SELECT DISTINCT o.id"), // distinct
            format!("{BASE} AND o.id > 5"),                   // extra predicate
        ];
        for new in cases {
            assert_eq!(categorize(BASE, &new), Category::Breaking, "{new}");
        }
        let cast_a = "SELECT CAST(d AS DATE) AS d FROM raw.t";
        let cast_b = "SELECT CAST(d AS TIMESTAMP) AS d FROM raw.t";
        assert_eq!(categorize(cast_a, cast_b), Category::Breaking);
    }

    /// Each case as SQLMesh 0.236 categorizes it (`SqlModel.is_breaking_change`, with the default
    /// "full" auto-categorization turning "cannot tell" into breaking).
    #[test]
    fn added_columns_that_change_grain_or_positions_follow_sqlmesh() {
        use Category::*;
        let cases = [
            (
                "SELECT DISTINCT a FROM t",
                "SELECT DISTINCT a, b FROM t",
                NonBreaking,
            ),
            (
                "SELECT a, SUM(x) AS s FROM t GROUP BY ALL",
                "SELECT a, b, SUM(x) AS s FROM t GROUP BY ALL",
                NonBreaking,
            ),
            (
                "SELECT a FROM t",
                "SELECT a, COUNT(*) AS n FROM t",
                NonBreaking,
            ),
            (
                "SELECT a, b FROM t ORDER BY 1 LIMIT 5",
                "SELECT a, b, c FROM t ORDER BY 1 LIMIT 5",
                NonBreaking,
            ),
            (
                "SELECT a, b FROM t ORDER BY 1 LIMIT 5",
                "SELECT c, a, b FROM t ORDER BY 1 LIMIT 5",
                Breaking,
            ),
            (
                "SELECT a, SUM(x) AS s FROM t GROUP BY 1",
                "SELECT b, a, SUM(x) AS s FROM t GROUP BY 2",
                Breaking,
            ),
            (
                "SELECT a, SUM(x) AS s FROM t GROUP BY 1",
                "SELECT a, SUM(x) AS s, b FROM t GROUP BY 1",
                NonBreaking,
            ),
            (
                "WITH x AS (SELECT a, b FROM t ORDER BY 2) SELECT a FROM x",
                "WITH x AS (SELECT c, a, b FROM t ORDER BY 2) SELECT a FROM x",
                Breaking,
            ),
            (
                "SELECT a FROM t UNION ALL SELECT a FROM u",
                "SELECT a, b FROM t UNION ALL SELECT a, b FROM u",
                NonBreaking,
            ),
            (
                "SELECT a FROM t UNION SELECT a FROM u",
                "SELECT b, a FROM t UNION SELECT b, a FROM u",
                NonBreaking,
            ),
            (
                "SELECT a FROM t UNION ALL SELECT a FROM u ORDER BY 1",
                "SELECT b, a FROM t UNION ALL SELECT b, a FROM u ORDER BY 1",
                Breaking,
            ),
            (
                "SELECT a FROM t UNION ALL SELECT a FROM u",
                "SELECT a FROM t UNION ALL SELECT a FROM v",
                Breaking,
            ),
        ];
        for (old, new, expected) in cases {
            assert_eq!(categorize(old, new), expected, "{old}  =>  {new}");
        }
    }

    #[test]
    fn a_data_change_with_the_same_query_is_non_breaking() {
        let mut typed = model("s.m", BASE);
        typed.columns = vec![("id".into(), "BIGINT".into())];
        let mut retyped = typed.clone();
        retyped.columns = vec![("id".into(), "INTEGER".into())];
        assert_eq!(categorize_models(typed, retyped), Category::NonBreaking);
    }

    #[test]
    fn a_lookback_change_is_breaking() {
        let kind = |lookback| ModelKind::IncrementalByTimeRange {
            time_column: "ds".into(),
            time_format: None,
            batch_size: None,
            lookback,
            forward_only: false,
        };
        let mut old = model("s.m", "SELECT ds FROM raw.t");
        old.kind = kind(1);
        let mut new = old.clone();
        new.kind = kind(2);
        assert_eq!(categorize_models(old, new), Category::Breaking);
    }

    #[test]
    fn a_column_added_and_another_changed_is_breaking() {
        let new = BASE.replace("c.name", "UPPER(c.name) AS name, o.status");
        assert_eq!(categorize(BASE, &new), Category::Breaking);
    }

    #[test]
    fn formatting_is_not_a_data_change() {
        let reformatted = "select o.ID, o.AMOUNT, c.NAME -- who\nfrom RAW.ORDERS o\n  join raw.customers c on o.cid = c.id\nwhere o.amount > 0";
        assert_eq!(categorize(BASE, reformatted), Category::Metadata);
    }

    #[test]
    fn metadata_only_changes() {
        let mut new = model("s.m", BASE);
        new.owner = Some("finance".into());
        new.description = Some("orders with customers".into());
        new.grains = vec!["id".into()];
        assert_eq!(
            categorize_models(model("s.m", BASE), new),
            Category::Metadata
        );
    }

    #[test]
    fn kind_changes_are_breaking() {
        let mut view = model("s.m", BASE);
        view.kind = ModelKind::View;
        assert_eq!(
            categorize_models(model("s.m", BASE), view),
            Category::Breaking
        );
    }

    /// A model using macros, and one using Jinja, categorized on what they render to. Each
    /// case was planned with SQLMesh 0.236.4 on the same project, with these categories.
    #[test]
    fn macro_and_jinja_changes_are_categorized_like_sqlmesh() {
        const CONFIG: &str = "model_defaults:\n  dialect: duckdb\n  start: 2024-01-01\n\
                              variables:\n  mult: 2\n  jcols: [a]\n";
        const MACRO_MODEL: &str = "MODEL (name mc.macro_m, kind FULL);\n@DEF(cols, [a, b]);\n\
             @DEF(threshold, 0);\nSELECT @EACH(@cols, c -> c * 2 AS c_@c) FROM mc.src \
             WHERE a > @threshold AND b < @mult * 10\n";
        const JINJA_MODEL: &str = "MODEL (name mc.jinja_m, kind INCREMENTAL_BY_TIME_RANGE \
             (time_column d));\nJINJA_QUERY_BEGIN;\nSELECT {% for c in var('jcols') %}\
             {{ twice(c) }} AS {{ c }}2, {% endfor %}d FROM mc.src \
             WHERE d BETWEEN '{{ start_ds }}' AND '{{ end_ds }}'\nJINJA_END;\n";
        const JINJA_MACROS: &str = "{% macro twice(x) %}{{ x }} * 2{% endmacro %}\n";
        let files = |edit: &dyn Fn(&str, &str) -> String| {
            [
                ("config.yaml", CONFIG),
                ("macros/jm.sql", JINJA_MACROS),
                ("models/src.sql", "MODEL (name mc.src, kind FULL);\nSELECT 1 AS a, 2 AS b, 3 AS e, CAST('2024-01-02' AS DATE) AS d\n"),
                ("models/macro_m.sql", MACRO_MODEL),
                ("models/jinja_m.sql", JINJA_MODEL),
            ]
            .map(|(path, text)| (path, edit(path, text)))
        };
        let load = |files: &[(&str, String)]| {
            let dir = tempfile::tempdir().unwrap();
            for (path, text) in files {
                let path = dir.path().join(path);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, text).unwrap();
            }
            let project = crate::project::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
            Dag::build(&project).unwrap().nodes
        };
        let base = load(&files(&|_, text| text.to_string()));
        let category = |edits: &[(&str, &str, &str)], model: &str| {
            let changed = load(&files(&|path, text| {
                edits
                    .iter()
                    .filter(|(p, _, _)| *p == path)
                    .fold(text.to_string(), |t, (_, from, to)| t.replacen(from, to, 1))
            }));
            let find = |nodes: &[Node]| {
                nodes
                    .iter()
                    .find(|n| n.model.name == model)
                    .cloned()
                    .unwrap()
            };
            let (old, new) = (find(&base), find(&changed));
            categorize_direct(&old, &data_hash(&old), &new, &data_hash(&new))
        };
        let add_columns = [
            ("models/macro_m.sql", "[a, b]", "[a, b, e]"),
            ("config.yaml", "jcols: [a]", "jcols: [a, b]"),
        ];
        assert_eq!(category(&add_columns, "mc.macro_m"), Category::NonBreaking);
        assert_eq!(category(&add_columns, "mc.jinja_m"), Category::NonBreaking);
        let threshold = [("models/macro_m.sql", "threshold, 0", "threshold, 1")];
        assert_eq!(category(&threshold, "mc.macro_m"), Category::Breaking);
        let variable = [("config.yaml", "mult: 2", "mult: 3")];
        assert_eq!(category(&variable, "mc.macro_m"), Category::Breaking);
        assert_eq!(
            category(&variable, "mc.jinja_m"),
            Category::Metadata,
            "unchanged"
        );
        let jinja_macro = [("macros/jm.sql", "* 2", "* 3")];
        assert_eq!(category(&jinja_macro, "mc.jinja_m"), Category::Breaking);
    }

    #[test]
    fn indirect_categories_follow_direct_parents() {
        use Category::*;
        assert_eq!(
            categorize_indirect(&[Breaking, NonBreaking]),
            Some(IndirectBreaking)
        );
        assert_eq!(
            categorize_indirect(&[IndirectBreaking]),
            Some(IndirectBreaking)
        );
        assert_eq!(
            categorize_indirect(&[NonBreaking, Metadata]),
            Some(IndirectNonBreaking)
        );
        assert_eq!(categorize_indirect(&[Metadata]), Some(Metadata));
        assert_eq!(categorize_indirect(&[]), None);
    }
}
