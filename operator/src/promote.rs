//! Promotion: pointing an environment's views at a snapshot set, atomically.
//!
//! Every view swap of the environment, the environment record and the release record commit
//! in one transaction: a reader sees the old environment or the new one, never a mix. The
//! environment's revision is checked in the same transaction, so two promotions computed
//! against the same revision cannot both land.

use std::collections::{BTreeMap, BTreeSet};

use crate::snapshot::{
    AuditResult, EnvironmentRecord, Release, ReleaseKind, SnapshotRef, environment_view,
    quote_ident,
};
use crate::state::{StateError, StateStore};
use crate::warehouse::{Warehouse, WarehouseError};

#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("promoting environment {environment:?}: {error}")]
    Warehouse {
        environment: String,
        error: WarehouseError,
    },
    #[error("janitor: {0}")]
    Janitor(WarehouseError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{0}")]
    Refused(String),
}

/// What to promote.
#[derive(Debug, Clone)]
pub struct Promotion {
    pub environment: String,
    pub plan_id: String,
    pub snapshots: Vec<SnapshotRef>,
    /// The revision the caller saw (`None`: the environment must not exist yet).
    pub expected_revision: Option<i64>,
    pub kind: ReleaseKind,
    pub restored_release: Option<String>,
    pub audits: Vec<AuditResult>,
    pub approvals: Vec<String>,
    pub created_by: String,
    /// Seconds since the epoch.
    pub now: i64,
    /// Seconds after `now` when a non-prod environment expires (`None` = never).
    pub ttl: Option<i64>,
}

/// Test hook: `SLUICE_FAILPOINT=<name>` aborts the process at that point, simulating a crash
/// (`kill -9`, node loss) in the middle of the work.
pub fn failpoint(name: &str) {
    if std::env::var("SLUICE_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}

/// The release id for a revision: `prod-r3`.
pub fn release_id(environment: &str, revision: i64) -> String {
    format!("{environment}-r{revision}")
}

/// Swaps the environment's views to `promotion.snapshots` and records environment and release,
/// all in one transaction. Returns the release.
pub fn promote(
    warehouse: &mut dyn Warehouse,
    promotion: Promotion,
) -> Result<Release, PromoteError> {
    let env = promotion.environment.clone();
    let wh_err = |error| PromoteError::Warehouse {
        environment: env.clone(),
        error,
    };
    warehouse.begin().map_err(wh_err)?;
    match promote_in_transaction(warehouse, &promotion) {
        Ok(release) => {
            warehouse.commit().map_err(wh_err)?;
            Ok(release)
        }
        Err(e) => {
            let _ = warehouse.rollback();
            Err(e)
        }
    }
}

fn promote_in_transaction(
    warehouse: &mut dyn Warehouse,
    p: &Promotion,
) -> Result<Release, PromoteError> {
    let previous = StateStore::new(warehouse).environment(&p.environment)?;
    let found = previous.as_ref().map(|e| e.revision);
    if found != p.expected_revision {
        return Err(StateError::Conflict {
            environment: p.environment.clone(),
            expected: p.expected_revision,
            found,
        }
        .into());
    }
    let old_refs = previous
        .as_ref()
        .map(|e| e.snapshots.clone())
        .unwrap_or_default();
    let statements = view_statements(&p.environment, &old_refs, &p.snapshots);
    for (i, sql) in statements.iter().enumerate() {
        warehouse
            .execute(sql)
            .map_err(|error| PromoteError::Warehouse {
                environment: p.environment.clone(),
                error,
            })?;
        if i == statements.len() / 2 {
            failpoint("promote-midway");
        }
    }
    let revision = found.unwrap_or(0) + 1;
    let release = Release {
        id: release_id(&p.environment, revision),
        environment: p.environment.clone(),
        kind: p.kind,
        plan_id: p.plan_id.clone(),
        previous: old_refs,
        snapshots: p.snapshots.clone(),
        restored_release: p.restored_release.clone(),
        audits: p.audits.clone(),
        approvals: p.approvals.clone(),
        created_by: p.created_by.clone(),
        created_at: p.now,
    };
    let record = EnvironmentRecord {
        name: p.environment.clone(),
        snapshots: p.snapshots.clone(),
        plan_id: p.plan_id.clone(),
        revision,
        release_id: Some(release.id.clone()),
        expires_at: p
            .ttl
            .filter(|_| p.environment != "prod")
            .map(|ttl| p.now + ttl),
        updated_at: p.now,
    };
    let mut state = StateStore::new(warehouse);
    state.write_environment(&record, p.expected_revision)?;
    state.insert_release(&release)?;
    failpoint("promote-before-commit");
    Ok(release)
}

/// The DDL that moves an environment's views from `old` to `new`: schemas, replaced views,
/// and dropped views of models that left the environment.
pub fn view_statements(environment: &str, old: &[SnapshotRef], new: &[SnapshotRef]) -> Vec<String> {
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
        if old_by_name
            .get(s.name.as_str())
            .is_some_and(|o| o.version == s.version && !o.is_symbolic())
        {
            continue;
        }
        // DROP + CREATE rather than CREATE OR REPLACE: PostgreSQL refuses to replace a view
        // whose columns changed.
        statements.push(format!("DROP VIEW IF EXISTS {view}"));
        statements.push(format!(
            "CREATE VIEW {view} AS SELECT * FROM {}",
            s.table().quoted()
        ));
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
        for sql in &statements {
            warehouse.execute(sql).map_err(wh_err)?;
        }
        StateStore::new(warehouse).delete_environment(&env.name)?;
        Ok(())
    })();
    match result {
        Ok(()) => warehouse.commit().map_err(wh_err),
        Err(e) => {
            let _ = warehouse.rollback();
            Err(e)
        }
    }
}

/// Physical tables (and VIEW-kind views) that exist in `sluice__*` schemas.
pub fn existing_physical_tables(
    warehouse: &mut dyn Warehouse,
) -> Result<BTreeSet<crate::snapshot::PhysicalTable>, WarehouseError> {
    let rows = warehouse.query(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema LIKE 'sluice%'",
    )?;
    Ok(rows
        .into_iter()
        .filter_map(
            |r| match (r.first().cloned().flatten(), r.get(1).cloned().flatten()) {
                (Some(schema), Some(table)) if schema.starts_with("sluice__") => {
                    Some(crate::snapshot::PhysicalTable { schema, table })
                }
                _ => None,
            },
        )
        .collect())
}

/// Re-points an environment at an earlier release's tables: no backfill, one transaction.
/// `to` defaults to the release before the current one. Refuses when a table is gone.
pub fn rollback(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    to: Option<&str>,
    created_by: &str,
    now: i64,
) -> Result<Release, PromoteError> {
    let mut state = StateStore::new(warehouse);
    let env = state.environment(environment)?.ok_or_else(|| {
        PromoteError::Refused(format!("environment {environment:?} does not exist"))
    })?;
    let releases = state.releases(environment)?;
    let target = match to {
        Some(id) => releases.iter().find(|r| r.id == id).cloned().ok_or_else(|| {
            PromoteError::Refused(format!(
                "release {id:?} is not a release of environment {environment:?} (see `sluice releases {environment}`)"
            ))
        })?,
        None => {
            let current = releases.iter().position(|r| Some(&r.id) == env.release_id.as_ref()).unwrap_or(0);
            releases.get(current + 1).cloned().ok_or_else(|| {
                PromoteError::Refused(format!("environment {environment:?} has no release before {:?}", env.release_id))
            })?
        }
    };
    let existing =
        existing_physical_tables(warehouse).map_err(|error| PromoteError::Warehouse {
            environment: environment.into(),
            error,
        })?;
    let missing: Vec<String> = target
        .snapshots
        .iter()
        .filter(|s| !s.is_symbolic() && !existing.contains(&s.table()))
        .map(|s| format!("{} ({})", s.name, s.table()))
        .collect();
    if !missing.is_empty() {
        return Err(PromoteError::Refused(format!(
            "cannot roll back {environment:?} to {}: its tables are gone (dropped by the janitor?): {}; \
             re-apply a plan to rebuild them instead",
            target.id,
            missing.join(", ")
        )));
    }
    promote(
        warehouse,
        Promotion {
            environment: environment.to_string(),
            plan_id: target.plan_id.clone(),
            snapshots: target.snapshots.clone(),
            expected_revision: Some(env.revision),
            kind: ReleaseKind::Rollback,
            restored_release: Some(target.id.clone()),
            audits: target.audits.clone(),
            approvals: Vec::new(),
            created_by: created_by.to_string(),
            now,
            ttl: env.expires_at.map(|at| at - env.updated_at),
        },
    )
}
