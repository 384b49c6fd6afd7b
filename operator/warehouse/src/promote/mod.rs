//! Promotion: pointing an environment's views at a snapshot set, atomically.
//!
//! Every view swap of the environment, the environment record and the release record commit
//! in one transaction: a reader sees the old environment or the new one, never a mix. The
//! environment's revision is checked in the same transaction, so two promotions computed
//! against the same revision cannot both land.
//!
//! `flip` is how the views move (schemas swapped whole, or changed in place), `transaction` the
//! flip's transaction and its retries, `readers` how the flip waits for the warehouse's
//! readers, `acl` the privileges carried to new views, `evidence` what the release records
//! beyond itself, `targets` what is promoted (a plan, or a rollback).

mod acl;
pub mod checks;
mod evidence;
pub mod flip;
pub mod pending;
pub mod readers;
mod targets;
mod transaction;
mod views;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use evidence::{comment_statements, release_comment};
use sluice_engine::evidence::{EvidenceInput, GateResult};
use sluice_engine::model::{Dialect, Statements};
use sluice_engine::snapshot::{
    Approval, AuditResult, Release, ReleaseKind, SnapshotRef, environment_view, quote_ident,
};

use crate::state::{StateError, StateStore};
use crate::warehouse::{Warehouse, WarehouseError};
pub use readers::{Blocker, FlipEvent, FlipPolicy, FlipReport};

pub use evidence::product_checks;
pub use targets::{check_plan, promote_plan, rollback};
pub(crate) use views::view_ddl;
pub use views::{drop_environment, expand_statements, view_statements};

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
    #[error(
        "gave up flipping environment {environment:?} after waiting {}s for readers{}; nothing \
         was changed (raise the wait, or retry when the reader is done)",
        waited.as_secs(),
        blocker.as_ref().map(|b| format!(": {b}")).unwrap_or_default()
    )]
    ReadersBlocking {
        environment: String,
        waited: Duration,
        blocker: Option<Blocker>,
    },
    #[error(
        "cannot promote {environment:?}: these tables do not exist (never built, or dropped by \
         the janitor): {}", tables.join(", ")
    )]
    MissingTables {
        environment: String,
        tables: Vec<String>,
    },
    #[error(
        "plan {plan} for {environment:?} is not complete, so it cannot be promoted yet: {}",
        missing.join("; ")
    )]
    Incomplete {
        plan: String,
        environment: String,
        missing: Vec<String>,
    },
    #[error("plan {0} was never prepared in this warehouse (run its backfill first)")]
    UnknownPlan(String),
    #[error(
        "cannot promote {environment:?}: {}", gates.iter().map(|g| format!("gate {}: {}", g.name, g.message)).collect::<Vec<_>>().join("; ")
    )]
    Gates {
        environment: String,
        gates: Vec<GateResult>,
    },
}

/// What to promote.
#[derive(Debug, Clone)]
pub struct Promotion {
    pub environment: String,
    pub plan_id: String,
    pub digest: Option<String>,
    pub snapshots: Vec<SnapshotRef>,
    /// The revision the caller saw (`None`: the environment must not exist yet).
    pub expected_revision: Option<i64>,
    pub kind: ReleaseKind,
    pub restored_release: Option<String>,
    /// For rollbacks: the restored release's own base (see [`Release::base_release`]).
    pub rollback_base: Option<String>,
    pub audits: Vec<AuditResult>,
    pub statements: Statements,
    pub meta: PromoteMeta,
    /// What the release's evidence records beyond the release itself.
    pub evidence: EvidenceInput,
}

/// Who promotes, when, with whose approval, and for which request.
#[derive(Debug, Clone, Default)]
pub struct PromoteMeta {
    pub created_by: String,
    /// Seconds since the epoch.
    pub now: i64,
    /// Seconds after `now` when a non-prod environment expires (`None` = never).
    pub ttl: Option<i64>,
    pub approvals: Vec<Approval>,
    /// An idempotency key: promoting again with a key that already made a release returns
    /// that release and changes nothing (the operator uses the Promotion's uid).
    pub request_id: Option<String>,
    /// Gates the caller decided (approvals), recorded in the evidence.
    pub gates: Vec<GateResult>,
    /// When freshness is measured (epoch ms); default: `now`. `sluice apply` uses the plan's
    /// execution time, the operator the wall clock.
    pub at_ms: Option<i64>,
    /// Lock timeout and patience with readers.
    pub flip: FlipPolicy,
}

impl PromoteMeta {
    fn at_ms(&self) -> i64 {
        self.at_ms.unwrap_or(self.now * 1000)
    }
}

/// Statements sent to the warehouse at once during a flip.
const FLIP_BATCH: usize = 500;

/// Test hook: `SLUICE_FAILPOINT=<name>` aborts the process at that point, simulating a crash
/// (`kill -9`, node loss) in the middle of the work; `SLUICE_FAILPOINT=<name>:stop` freezes it
/// there instead (SIGSTOP), the first time it is reached, simulating a process that stalls and
/// wakes up later (`SIGCONT`).
pub fn failpoint(name: &str) {
    let Ok(wanted) = std::env::var("SLUICE_FAILPOINT") else {
        return;
    };
    if wanted == name {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
    static STOPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if wanted.strip_suffix(":stop") == Some(name)
        && !STOPPED.swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        eprintln!("failpoint {name}: stopping");
        // SAFETY: raising a signal on our own process.
        unsafe { libc::raise(libc::SIGSTOP) };
        eprintln!("failpoint {name}: continuing");
    }
}

/// The release id for a release number: `prod-r3`.
pub fn release_id(environment: &str, number: i64) -> String {
    format!("{environment}-r{number}")
}

/// Moves the environment's views to `promotion.snapshots` and records environment and release
/// in one transaction (see [`flip`] for how the views move without stalling readers). Returns
/// the release.
pub fn promote(
    warehouse: &mut dyn Warehouse,
    promotion: Promotion,
) -> Result<Release, PromoteError> {
    let started = Instant::now();
    let p = &promotion;
    let wh_err = |error| PromoteError::Warehouse {
        environment: p.environment.clone(),
        error,
    };
    if p.meta.flip.require_atomic && !warehouse.atomic_flip() {
        return Err(PromoteError::Refused(format!(
            "environment {:?} requires atomic promotion, but this warehouse ({}) moves views \
             one by one, so readers could see two releases at once: promote it on DuckDB or \
             PostgreSQL, or drop the requirement (spec.flip.requireAtomic)",
            p.environment,
            warehouse.dialect()
        )));
    }
    let mut state = StateStore::new(warehouse);
    if let Some(request) = &p.meta.request_id
        && let Some(done) = state.release_for_request(request)?
    {
        return Ok(done);
    }
    // What changes, read ahead of the flip's transaction: if the environment moves meanwhile,
    // the revision check inside it refuses the flip.
    let old_refs = state
        .environment(&p.environment)?
        .map(|e| e.snapshots)
        .unwrap_or_default();
    // Checked again in the flip's transaction; here so that no stage is built on a missing table.
    ensure_tables_exist(warehouse, &p.environment, &p.snapshots)?;
    let mut flips = flip::changed_schemas(&p.environment, &old_refs, &p.snapshots);
    flip::choose_swaps(warehouse, &p.environment, &mut flips).map_err(wh_err)?;
    // The release this flip will make, named on the stage's views ahead of time: a release
    // made meanwhile would have moved the environment, which the flip's revision check refuses.
    let predicted = StateStore::new(warehouse).next_release_number(&p.environment)?;
    let comment = release_comment(
        &p.environment,
        &release_id(&p.environment, predicted),
        &p.plan_id,
    );
    flip::prepare_stages(warehouse, &p.environment, &mut flips, p.meta.now, &comment)
        .map_err(wh_err)?;
    let per_view = !warehouse.atomic_flip();
    if per_view {
        pending::start(
            warehouse,
            &p.environment,
            &old_refs,
            &p.snapshots,
            &p.plan_id,
            p.meta.now,
        )?;
    }
    let stages: Vec<&str> = flips
        .iter()
        .filter_map(|f| f.stage.as_ref().map(|s| s.next.as_str()))
        .collect();
    let policy = &p.meta.flip;
    let timeout = readers::lock_timeout_statement(policy);
    flip::warm_up(warehouse, &p.environment, &flips, &timeout);
    let outcome = transaction::flip_with_retries(warehouse, p, &old_refs, &flips, predicted);
    match outcome {
        Ok(transaction::Flipped {
            release,
            lock_held,
            attempts,
            carried,
        }) => {
            comment_unchanged_views(warehouse, p, &flips, &release);
            if let Err(e) = flip::carry_late_privileges(warehouse, &p.environment, &flips, &carried)
            {
                tracing::warn!(
                    environment = %p.environment,
                    error = %e,
                    "could not carry the privileges granted during the flip to the new views"
                );
            }
            let retired: Vec<&str> = flips
                .iter()
                .filter_map(|f| f.stage.as_ref().filter(|s| s.exists))
                .map(|s| s.retired.as_str())
                .collect();
            flip::drop_schemas(warehouse, &retired, &timeout);
            policy.tell(FlipEvent::Flipped(FlipReport {
                lock_held,
                total: started.elapsed(),
                attempts,
                swapped_schemas: stages.len(),
                in_place_schemas: flips.len() - stages.len(),
                changing_views: flips
                    .iter()
                    .map(|f| f.changing_views(&p.environment).len())
                    .sum(),
                per_view,
            }));
            Ok(release)
        }
        Err(e) => {
            flip::drop_schemas(warehouse, &stages, &timeout);
            if per_view {
                put_back_after(warehouse, p, &old_refs, &e);
            }
            Err(e)
        }
    }
}

/// After a failed per-view flip: its views go back to where the state says they are (a
/// failure here leaves the record for the next attempt).
fn put_back_after(
    warehouse: &mut dyn Warehouse,
    p: &Promotion,
    old_refs: &[SnapshotRef],
    failure: &PromoteError,
) {
    let recorded = StateStore::new(warehouse)
        .pending_flip(&p.environment)
        .ok()
        .flatten();
    let Some(flip) = recorded.filter(|f| f.plan_id == p.plan_id && f.old == old_refs) else {
        return;
    };
    if let Err(e) = pending::put_back(warehouse, &flip) {
        tracing::warn!(
            environment = %p.environment,
            error = %e,
            flip_error = %failure,
            "could not put the views back after a failed flip; the next attempt will"
        );
    }
}

/// Names the new release on the views the flip did not touch, after its commit, a few hundred
/// per transaction: informational (`sluice.current_release` is the truth, written in the
/// flip), and never thousands of locks in the flip itself. A failure is only logged.
fn comment_unchanged_views(
    warehouse: &mut dyn Warehouse,
    p: &Promotion,
    flips: &[flip::SchemaFlip],
    release: &Release,
) {
    let flipped: BTreeSet<&str> = flips.iter().map(|f| f.schema.as_str()).collect();
    let views: Vec<String> = p
        .snapshots
        .iter()
        .filter(|r| !r.is_symbolic())
        .map(|r| environment_view(&p.environment, &r.name))
        .filter(|(schema, _)| !flipped.contains(schema.as_str()))
        .map(|(schema, view)| format!("{}.{}", quote_ident(&schema), quote_ident(&view)))
        .collect();
    let comment = release_comment(&p.environment, &release.id, &release.plan_id);
    let comments = comment_statements(warehouse, &views, &comment);
    for batch in comments.chunks(FLIP_BATCH) {
        if let Err(e) = warehouse.execute(&batch.join(";\n")) {
            tracing::warn!(error = %e, "could not comment the unchanged views");
            return;
        }
    }
}

/// Declared grants on physical tables (PostgreSQL; DuckDB has no roles).
fn sql_tables_grants(
    warehouse: &mut dyn Warehouse,
    refs: &[SnapshotRef],
) -> Result<(), WarehouseError> {
    if warehouse.dialect() != Dialect::Postgres {
        return Ok(());
    }
    execute_batched(warehouse, &acl::table_statements(refs), None)
}

/// Runs `statements` in batches of [`FLIP_BATCH`], one round trip each, inside the caller's
/// transaction: a 10,000-view flip is a few round trips, not 10,000. `midway` names a
/// failpoint reached after the middle batch.
pub(crate) fn execute_batched(
    warehouse: &mut dyn Warehouse,
    statements: &[String],
    midway: Option<&str>,
) -> Result<(), WarehouseError> {
    let batches: Vec<&[String]> = statements.chunks(FLIP_BATCH).collect();
    for (i, batch) in batches.iter().enumerate() {
        warehouse.execute(&batch.join(";\n"))?;
        if i == batches.len() / 2
            && let Some(name) = midway
        {
            failpoint(name);
        }
    }
    Ok(())
}

fn statement_error(environment: &str, which: &str, error: WarehouseError) -> PromoteError {
    PromoteError::Refused(format!(
        "a `{which}` statement from config.yaml failed, so environment {environment:?} was not \
         changed: {error}"
    ))
}

/// Refuses to point a view at a table that is not there (never built, or dropped).
fn ensure_tables_exist(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    refs: &[SnapshotRef],
) -> Result<(), PromoteError> {
    let existing = crate::warehouse::existing_physical_tables(warehouse).map_err(|error| {
        PromoteError::Warehouse {
            environment: environment.into(),
            error,
        }
    })?;
    let missing: Vec<String> = refs
        .iter()
        .filter(|s| !s.is_symbolic() && !existing.contains(&s.table()))
        .map(|s| format!("{} ({})", s.name, s.table()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(PromoteError::MissingTables {
        environment: environment.into(),
        tables: missing,
    })
}
