//! The janitor: drops expired environments and physical tables nothing needs any more.
//!
//! A table is kept while any environment points at it, any of the most recent releases of an
//! environment (kept for rollback) does, a live plan (one whose heartbeat is recent) is
//! building it, or a kept view reads it. Everything else under `sluice__*` schemas —
//! including tables left behind by an interrupted apply — is dropped, with its intervals.
//! A table the database refuses to drop (something outside Sluice depends on it) is reported
//! and skipped; the janitor goes on with the rest. It keeps the flip's lock discipline: on
//! PostgreSQL each drop waits at most the flip's lock timeout, so a table a reader is in is
//! skipped until the next run instead of queueing readers behind the drop. It also removes
//! what interrupted flips left: retired schemas, and stages older than an hour.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sluice_engine::snapshot::{PhysicalTable, SnapshotRef};

use sluice_engine::model::Dialect;
use sluice_engine::snapshot::quote_literal;

use crate::promote::flip::{RETIRED_PREFIX, STAGE_PREFIX};
use crate::promote::readers::DEFAULT_LOCK_TIMEOUT;
use crate::promote::{PromoteError, drop_environment};
use crate::state::StateStore;
use crate::warehouse::{Warehouse, WarehouseError};
use crate::warehouse::{existing_physical_tables, physical_relations};

/// What the janitor removed, and what it could not.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct JanitorReport {
    pub dropped_environments: Vec<String>,
    pub dropped_tables: Vec<PhysicalTable>,
    /// Tables it meant to drop but the database refused, with the reason.
    pub skipped_tables: Vec<(PhysicalTable, String)>,
    /// Schemas interrupted flips left behind.
    pub dropped_schemas: Vec<String>,
    /// Environments it could not drop now (a reader held a view), with the reason.
    pub skipped_environments: Vec<(String, String)>,
}

/// How old a flip's stage must be before the janitor takes it for abandoned (seconds).
pub const STAGE_GRACE: i64 = 3_600;

/// How long a plan without a heartbeat still protects its tables (seconds).
pub const PLAN_LEASE: i64 = 15 * 60;

/// Runs the janitor as of `now` (seconds), keeping the last `keep_releases` releases of each
/// environment restorable, the tables of live plans (heartbeat within [`PLAN_LEASE`]), and
/// those of snapshots recorded within the last `grace` seconds.
pub fn janitor(
    warehouse: &mut dyn Warehouse,
    now: i64,
    keep_releases: usize,
    grace: i64,
) -> Result<JanitorReport, PromoteError> {
    let postgres = warehouse.dialect() == Dialect::Postgres;
    if postgres {
        let ms = DEFAULT_LOCK_TIMEOUT.as_millis();
        warehouse
            .execute(&format!("SET lock_timeout = '{ms}ms'"))
            .map_err(PromoteError::Janitor)?;
    }
    let result = clean(warehouse, now, keep_releases, grace);
    if postgres {
        let _ = warehouse.execute("RESET lock_timeout");
    }
    result
}

fn clean(
    warehouse: &mut dyn Warehouse,
    now: i64,
    keep_releases: usize,
    grace: i64,
) -> Result<JanitorReport, PromoteError> {
    let mut report = JanitorReport::default();
    if warehouse.dialect() == Dialect::Postgres {
        report.dropped_schemas =
            drop_flip_leftovers(warehouse, now).map_err(PromoteError::Janitor)?;
    }
    let mut state = StateStore::new(warehouse);
    state.init()?;
    let environments = state.environments()?;
    let mut live = Vec::new();
    for env in environments {
        if env.expires_at.is_some_and(|at| at <= now) && env.name != "prod" {
            match drop_environment(warehouse, &env) {
                Ok(()) => report.dropped_environments.push(env.name.clone()),
                Err(PromoteError::Warehouse { error, .. }) if error.is_busy() => {
                    report
                        .skipped_environments
                        .push((env.name.clone(), first_line(&error.to_string())));
                    live.push(env);
                }
                Err(e) => return Err(e),
            }
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
    for plan in state.live_plans(now - PLAN_LEASE)? {
        add(&plan.references);
    }

    let snapshots = state.all_snapshots()?;
    keep.extend(
        snapshots
            .iter()
            .filter(|s| s.created_at > now - grace)
            .map(|s| s.table()),
    );

    // Which intervals belong to which table, dev tables included.
    let mut versions: HashMap<PhysicalTable, (String, String)> = snapshots
        .iter()
        .map(|s| (s.table(), (s.model.name.clone(), s.version.clone())))
        .collect();
    for (name, version) in StateStore::new(warehouse).all_intervals()?.into_keys() {
        versions.insert(PhysicalTable::new(&name, &version), (name, version));
    }
    let relations = physical_relations(warehouse).map_err(PromoteError::Janitor)?;
    keep_what_kept_views_read(&relations, &mut keep);
    let is_view: BTreeSet<PhysicalTable> = relations
        .iter()
        .filter(|(_, definition)| definition.is_some())
        .map(|(t, _)| t.clone())
        .collect();
    let doomed: Vec<PhysicalTable> = relations
        .into_keys()
        .filter(|t| !keep.contains(t))
        .collect();
    let (views, tables): (Vec<_>, Vec<_>) = doomed.into_iter().partition(|t| is_view.contains(t));
    // Views (which may read each other) first; what the database refuses is retried while the
    // previous pass made progress, then reported.
    let mut pending: Vec<PhysicalTable> = views.into_iter().chain(tables).collect();
    let mut dropped_before = 0;
    loop {
        let mut refused = Vec::new();
        for t in pending {
            let what = if is_view.contains(&t) {
                "VIEW"
            } else {
                "TABLE"
            };
            match warehouse.execute(&format!("DROP {what} IF EXISTS {}", t.quoted())) {
                Ok(()) => {
                    if let Some((name, version)) = versions.get(&t) {
                        StateStore::new(warehouse).delete_intervals(name, version)?;
                    }
                    report.dropped_tables.push(t);
                }
                Err(e) => refused.push((t, first_line(&e.to_string()))),
            }
        }
        let progressed = report.dropped_tables.len() > dropped_before;
        dropped_before = report.dropped_tables.len();
        if refused.is_empty() || !progressed {
            report.skipped_tables = refused;
            break;
        }
        pending = refused.into_iter().map(|(t, _)| t).collect();
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

/// Keeps every table a kept view reads: dropping it would break the view (DuckDB, Spark) or
/// be refused (PostgreSQL). Read from the views' definitions, to a fixed point (views read
/// views).
fn keep_what_kept_views_read(
    relations: &BTreeMap<PhysicalTable, Option<String>>,
    keep: &mut BTreeSet<PhysicalTable>,
) {
    let mut pending: Vec<PhysicalTable> = keep.iter().cloned().collect();
    while let Some(view) = pending.pop() {
        let Some(Some(definition)) = relations.get(&view) else {
            continue;
        };
        for table in relations.keys() {
            if !keep.contains(table) && definition.contains(table.table.as_str()) {
                keep.insert(table.clone());
                pending.push(table.clone());
            }
        }
    }
}

/// Drops retired schemas (a flip committed but could not drop them at once) and stages older
/// than [`STAGE_GRACE`] (a flip that died before its swap). Returns their names.
fn drop_flip_leftovers(
    warehouse: &mut dyn Warehouse,
    now: i64,
) -> Result<Vec<String>, WarehouseError> {
    let rows = warehouse.query(&format!(
        "SELECT n.nspname, coalesce(obj_description(n.oid, 'pg_namespace'), '')          FROM pg_namespace n WHERE starts_with(n.nspname, {}) OR starts_with(n.nspname, {})",
        quote_literal(RETIRED_PREFIX),
        quote_literal(STAGE_PREFIX)
    ))?;
    let mut dropped = Vec::new();
    for row in rows {
        let (Some(Some(name)), comment) = (row.first(), row.get(1).cloned().flatten()) else {
            continue;
        };
        let built = comment
            .as_deref()
            .and_then(|c| c.split("built at ").nth(1))
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|digits| digits.parse::<i64>().ok());
        let abandoned =
            name.starts_with(RETIRED_PREFIX) || built.is_none_or(|at| at + STAGE_GRACE <= now);
        if !abandoned {
            continue;
        }
        let sql = format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            sluice_engine::snapshot::quote_ident(name)
        );
        if warehouse.execute(&sql).is_ok() {
            dropped.push(name.clone());
        }
    }
    Ok(dropped)
}

/// Tables of `release` that no longer exist, as `model (schema.table)`: empty while the release
/// can be rolled back to.
pub fn missing_tables(
    warehouse: &mut dyn Warehouse,
    release: &str,
) -> Result<Vec<String>, PromoteError> {
    let Some(release) = StateStore::new(warehouse).release(release)? else {
        return Ok(Vec::new());
    };
    let existing = existing_physical_tables(warehouse).map_err(PromoteError::Janitor)?;
    Ok(gone(&release.snapshots, &existing)
        .map(|s| format!("{} ({})", s.name, s.table()))
        .collect())
}

/// `Ok` when a release can be rolled back to; otherwise why not.
pub type Restorable = Result<(), String>;

/// Whether each of the newest `limit` releases of `environment` (newest first) can still be
/// rolled back to; if not, why.
pub fn restorable_releases(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    limit: usize,
) -> Result<Vec<(String, Restorable)>, PromoteError> {
    let releases = StateStore::new(warehouse).latest_releases(environment, limit as i64)?;
    let existing = existing_physical_tables(warehouse).map_err(PromoteError::Janitor)?;
    Ok(releases
        .into_iter()
        .map(|r| {
            let names: Vec<&str> = gone(&r.snapshots, &existing)
                .map(|s| s.name.as_str())
                .collect();
            let verdict = match names.is_empty() {
                true => Ok(()),
                false => Err(format!(
                    "tables dropped by the janitor: {}",
                    names.join(", ")
                )),
            };
            (r.id, verdict)
        })
        .collect())
}

/// The snapshots among `refs` whose table is not in `existing`.
fn gone<'a>(
    refs: &'a [SnapshotRef],
    existing: &'a BTreeSet<PhysicalTable>,
) -> impl Iterator<Item = &'a SnapshotRef> {
    refs.iter()
        .filter(|s| !s.is_symbolic() && !existing.contains(&s.table()))
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().to_string()
}
