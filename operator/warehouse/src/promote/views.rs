//! The DDL of an environment's views: what moves them between snapshot sets, the
//! `before_all`/`after_all` statements around a flip, and dropping an environment.

use std::collections::{BTreeMap, BTreeSet};

use sluice_engine::model::{Dialect, Statements};
use sluice_engine::snapshot::{
    EnvironmentRecord, SnapshotRef, environment_view, quote_ident, quote_literal,
};

use super::PromoteError;
use super::readers::{self, FlipPolicy};
use crate::state::StateStore;
use crate::warehouse::Warehouse;

/// `before_all` / `after_all` with their variables filled in: `@this_env` is the environment's
/// name; a statement using `@schema` runs once per schema of the environment's views, one
/// using `@view` once per view (both quoted).
pub fn expand_statements(
    environment: &str,
    statements: &Statements,
    refs: &[SnapshotRef],
) -> (Vec<String>, Vec<String>) {
    let views: Vec<(String, String)> = refs
        .iter()
        .filter(|r| !r.is_symbolic())
        .map(|r| environment_view(environment, &r.name))
        .collect();
    let schemas: BTreeSet<&str> = views.iter().map(|(s, _)| s.as_str()).collect();
    let expand = |sql: &String| -> Vec<String> {
        let sql = sql.replace("@this_env", &quote_literal(environment));
        if sql.contains("@schema") {
            schemas
                .iter()
                .map(|s| sql.replace("@schema", &quote_ident(s)))
                .collect()
        } else if sql.contains("@view") {
            views
                .iter()
                .map(|(s, t)| {
                    sql.replace("@view", &format!("{}.{}", quote_ident(s), quote_ident(t)))
                })
                .collect()
        } else {
            vec![sql]
        }
    };
    (
        statements.before_all.iter().flat_map(expand).collect(),
        statements.after_all.iter().flat_map(expand).collect(),
    )
}

/// The DDL that moves an environment's views from `old` to `new`: schemas, replaced views,
/// and dropped views of models that left the environment.
pub fn view_statements(environment: &str, old: &[SnapshotRef], new: &[SnapshotRef]) -> Vec<String> {
    view_ddl(environment, old, new, false)
}

/// [`view_statements`], with each view replaced by one `CREATE OR REPLACE VIEW` when
/// `or_replace` (Spark: no moment where the view is missing, since there is no transaction
/// to hide a drop in).
pub(crate) fn view_ddl(
    environment: &str,
    old: &[SnapshotRef],
    new: &[SnapshotRef],
    or_replace: bool,
) -> Vec<String> {
    let mut statements = Vec::new();
    let visible: Vec<&SnapshotRef> = new.iter().filter(|s| !s.is_symbolic()).collect();
    let schemas: BTreeSet<String> = visible
        .iter()
        .map(|s| environment_view(environment, &s.name).0)
        .collect();
    for schema in schemas {
        statements.push(format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_ident(&schema)
        ));
    }
    let old_by_name: BTreeMap<&str, &SnapshotRef> =
        old.iter().map(|s| (s.name.as_str(), s)).collect();
    for s in &visible {
        let (schema, table) = environment_view(environment, &s.name);
        let view = format!("{}.{}", quote_ident(&schema), quote_ident(&table));
        // Same snapshot, same table: nothing to do. A forward-only change keeps the table but
        // may have added columns, which a view's `*` only picks up when it is recreated.
        if old_by_name
            .get(s.name.as_str())
            .is_some_and(|o| *o == *s && !o.is_symbolic())
        {
            continue;
        }
        let table = s.table().quoted();
        if or_replace {
            statements.push(format!(
                "CREATE OR REPLACE VIEW {view} AS SELECT * FROM {table}"
            ));
            continue;
        }
        // DROP + CREATE rather than CREATE OR REPLACE: PostgreSQL refuses to replace a view
        // whose columns changed.
        statements.push(format!("DROP VIEW IF EXISTS {view}"));
        statements.push(format!("CREATE VIEW {view} AS SELECT * FROM {table}"));
    }
    let kept: BTreeSet<&str> = visible.iter().map(|s| s.name.as_str()).collect();
    for o in old
        .iter()
        .filter(|o| !o.is_symbolic() && !kept.contains(o.name.as_str()))
    {
        let (schema, table) = environment_view(environment, &o.name);
        statements.push(format!(
            "DROP VIEW IF EXISTS {}.{}",
            quote_ident(&schema),
            quote_ident(&table)
        ));
    }
    statements
}

/// Drops an environment's views and its record (never `prod`), in one transaction.
pub fn drop_environment(
    warehouse: &mut dyn Warehouse,
    env: &EnvironmentRecord,
) -> Result<(), PromoteError> {
    if env.name == "prod" {
        return Err(PromoteError::Refused(
            "the prod environment is never dropped".into(),
        ));
    }
    let wh_err = |error| PromoteError::Warehouse {
        environment: env.name.clone(),
        error,
    };
    let statements = view_statements(&env.name, &env.snapshots, &[]);
    warehouse.begin().map_err(wh_err)?;
    let result = (|| -> Result<(), PromoteError> {
        if warehouse.dialect() == Dialect::Postgres {
            // The janitor's lock discipline is the flip's: never queue readers for long.
            let timeout = readers::lock_timeout_statement(&FlipPolicy::default());
            warehouse.execute(&timeout).map_err(wh_err)?;
        }
        for sql in &statements {
            warehouse.execute(sql).map_err(wh_err)?;
        }
        let mut state = StateStore::new(warehouse);
        state.delete_environment(&env.name)?;
        state.clear_live_release(&env.name)?;
        Ok(())
    })();
    match result {
        Ok(()) => warehouse.commit().map_err(wh_err)?,
        Err(e) => {
            let _ = warehouse.rollback();
            return Err(e);
        }
    }
    drop_empty_schemas(warehouse, &env.name, &env.snapshots);
    Ok(())
}

/// Drops the schemas that held an environment's views, now that they are gone, if nothing else
/// is in them (`DROP SCHEMA` without `CASCADE` refuses otherwise: a schema someone put their own
/// objects in is kept). Each on its own, after the environment's commit; a failure only leaves
/// the schema.
fn drop_empty_schemas(warehouse: &mut dyn Warehouse, environment: &str, refs: &[SnapshotRef]) {
    let schemas: BTreeSet<String> = refs
        .iter()
        .filter(|r| !r.is_symbolic())
        .map(|r| environment_view(environment, &r.name).0)
        .collect();
    for schema in schemas {
        if warehouse
            .execute(&format!("DROP SCHEMA IF EXISTS {}", quote_ident(&schema)))
            .is_err()
        {
            tracing::debug!(%schema, "an environment's schema is not empty: kept");
        }
    }
}
