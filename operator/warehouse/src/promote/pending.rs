//! The flip on a warehouse without transactions (Spark), made safe to interrupt.
//!
//! There, views move one by one and no transaction ties them to the release record. So the
//! flip is recorded in Sluice's state (which lives on PostgreSQL) before the first view moves,
//! and that record is removed in the same state transaction that records the release. A
//! record found later means a flip died half-way: its views are put back to the release the
//! state still names, and then the next flip runs as if nothing had happened. Putting back is
//! idempotent (`CREATE OR REPLACE VIEW`), so dying while putting back is repaired the same way.

use sluice_engine::snapshot::SnapshotRef;

use super::{PromoteError, execute_batched, view_ddl};
use crate::state::{PendingFlip, StateStore};
use crate::warehouse::Warehouse;

/// How long a recorded flip is taken to be still running (seconds): a flip on Spark moves its
/// views in two round trips, far quicker than this; a record older than this is a crash.
pub const FLIP_LEASE: i64 = 120;

/// Puts back the views of an interrupted flip of `environment` (if any) and records the flip
/// about to run. Refuses while another flip of the environment may still be running.
pub(super) fn start(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    old: &[SnapshotRef],
    new: &[SnapshotRef],
    plan_id: &str,
    now: i64,
) -> Result<(), PromoteError> {
    if let Some(interrupted) = StateStore::new(warehouse).pending_flip(environment)? {
        if now < interrupted.started_at + FLIP_LEASE && !owner_is_gone(&interrupted.owner) {
            return Err(PromoteError::Refused(format!(
                "another flip of environment {environment:?} (plan {}) started {}s ago and has \
                 not finished; retry once it has (a flip that died is put right after {}s)",
                interrupted.plan_id,
                now - interrupted.started_at,
                FLIP_LEASE
            )));
        }
        put_back(warehouse, &interrupted)?;
        tracing::warn!(
            environment,
            plan = %interrupted.plan_id,
            "an interrupted flip was found; its views were put back before flipping again"
        );
    }
    StateStore::new(warehouse).start_flip(&PendingFlip {
        environment: environment.to_string(),
        old: old.to_vec(),
        new: new.to_vec(),
        plan_id: plan_id.to_string(),
        started_at: now,
        owner: this_process(),
    })?;
    Ok(())
}

/// `host:pid` of this process.
fn this_process() -> String {
    format!("{}:{}", host_name(), std::process::id())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Whether `owner` (`host:pid`) was a process on this host that no longer runs.
fn owner_is_gone(owner: &str) -> bool {
    let Some((host, pid)) = owner.rsplit_once(':') else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    host == host_name()
        && pid != std::process::id()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Points the views of `flip` back at the snapshots it started from and forgets it.
pub(super) fn put_back(
    warehouse: &mut dyn Warehouse,
    flip: &PendingFlip,
) -> Result<(), PromoteError> {
    let sql = view_ddl(&flip.environment, &flip.new, &flip.old, true);
    execute_batched(warehouse, &sql, None).map_err(|error| PromoteError::Warehouse {
        environment: flip.environment.clone(),
        error,
    })?;
    StateStore::new(warehouse).end_flip(&flip.environment)?;
    Ok(())
}
