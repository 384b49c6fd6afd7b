//! The janitor: drops expired environments and physical tables nothing needs any more.
//!
//! A table is kept while any environment points at it or any of the most recent releases of
//! an environment (kept for rollback) does. Everything else under `sluice__*` schemas —
//! including tables left behind by an interrupted apply — is dropped, with its intervals.

use std::collections::{BTreeSet, HashMap};

use crate::promote::{PromoteError, drop_environment, existing_physical_tables};
use crate::snapshot::{PhysicalTable, SnapshotRef};
use crate::state::StateStore;
use crate::warehouse::Warehouse;

/// What the janitor removed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct JanitorReport {
    pub dropped_environments: Vec<String>,
    pub dropped_tables: Vec<PhysicalTable>,
}

/// Runs the janitor as of `now` (seconds), keeping the last `keep_releases` releases of each
/// environment restorable, and the tables of snapshots an apply recorded within the last
/// `grace` seconds (an apply in progress builds tables before it promotes them).
pub fn janitor(
    warehouse: &mut dyn Warehouse,
    now: i64,
    keep_releases: usize,
    grace: i64,
) -> Result<JanitorReport, PromoteError> {
    let mut report = JanitorReport::default();
    let mut state = StateStore::new(warehouse);
    state.init()?;
    let environments = state.environments()?;
    let mut live = Vec::new();
    for env in environments {
        if env.expires_at.is_some_and(|at| at <= now) && env.name != "prod" {
            drop_environment(warehouse, &env)?;
            report.dropped_environments.push(env.name.clone());
        } else {
            live.push(env);
        }
    }

    let mut state = StateStore::new(warehouse);
    let mut keep: BTreeSet<PhysicalTable> = BTreeSet::new();
    let mut add = |refs: &[SnapshotRef]| {
        keep.extend(
            refs.iter()
                .filter(|r| !r.is_symbolic())
                .map(SnapshotRef::table),
        )
    };
    for env in &live {
        add(&env.snapshots);
        for release in state.releases(&env.name)?.iter().take(keep_releases) {
            add(&release.snapshots);
        }
    }

    let snapshots = state.all_snapshots()?;
    keep.extend(
        snapshots
            .iter()
            .filter(|s| s.created_at > now - grace)
            .map(|s| s.table()),
    );
    let versions: HashMap<PhysicalTable, (String, String)> = snapshots
        .iter()
        .map(|s| (s.table(), (s.model.name.clone(), s.version.clone())))
        .collect();
    let existing = existing_physical_tables(warehouse).map_err(PromoteError::Janitor)?;
    let doomed: Vec<PhysicalTable> = existing.into_iter().filter(|t| !keep.contains(t)).collect();
    // Views first: a VIEW-kind snapshot may read a doomed table.
    let is_view = view_set(warehouse)?;
    let (views, tables): (Vec<_>, Vec<_>) = doomed.into_iter().partition(|t| is_view.contains(t));
    for t in views.iter().chain(&tables) {
        let what = if is_view.contains(t) { "VIEW" } else { "TABLE" };
        warehouse
            .execute(&format!("DROP {what} IF EXISTS {}", t.quoted()))
            .map_err(PromoteError::Janitor)?;
        if let Some((name, version)) = versions.get(t) {
            StateStore::new(warehouse).delete_intervals(name, version)?;
        }
        report.dropped_tables.push(t.clone());
    }
    let dropped: BTreeSet<&PhysicalTable> = report.dropped_tables.iter().collect();
    let orphaned: Vec<_> = snapshots
        .iter()
        .filter(|s| dropped.contains(&s.table()) && !keep.contains(&s.table()))
        .map(|s| s.id())
        .collect();
    StateStore::new(warehouse).delete_snapshots(&orphaned)?;
    Ok(report)
}

fn view_set(warehouse: &mut dyn Warehouse) -> Result<BTreeSet<PhysicalTable>, PromoteError> {
    let rows = warehouse
        .query("SELECT table_schema, table_name FROM information_schema.views WHERE table_schema LIKE 'sluice%'")
        .map_err(PromoteError::Janitor)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(PhysicalTable {
                schema: r.first()?.clone()?,
                table: r.get(1)?.clone()?,
            })
        })
        .collect())
}
