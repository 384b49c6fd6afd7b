//! Applying a plan in three steps, each safe to repeat, so an interrupted apply converges when
//! rerun and the operator can run them in different processes:
//!
//! 1. [`prepare`] records the plan's snapshots, registers the plan (with a heartbeat that keeps
//!    the janitor off its tables) and forgets restated intervals — once;
//! 2. the work units ([`crate::executor::plan_work`]) run anywhere, in dependency order:
//!    finished batches are recorded and skipped on a rerun, half-written ones were rolled back;
//! 3. [`crate::promote::promote_plan`] checks every batch is recorded and flips the
//!    environment in one transaction.
//!
//! [`apply`] does all three in this process, for the command line.

use std::collections::BTreeMap;

use sluice_engine::model::{CustomAudit, Statements};
use sluice_engine::plan::{Plan, PreparedPlan};
use sluice_engine::snapshot::{AuditResult, Release, Snapshot};

use crate::executor::{Task, TaskError, TaskOutcome, WorkEvent, run_work, work_units};
use crate::promote::{PromoteError, PromoteMeta, promote_plan};
use crate::state::{StateError, StateStore};
use crate::warehouse::Warehouse;

/// Progress reported while applying.
pub enum ApplyEvent<'a> {
    /// About to run task `index` (1-based) of `total`.
    Task {
        index: usize,
        total: usize,
        task: &'a Task,
    },
    /// A task finished with this outcome.
    TaskDone {
        task: &'a Task,
        outcome: &'a TaskOutcome,
    },
    Promoted(&'a Release),
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error(
        "{}{}",
        audit_failure_message(environment, failures),
        skipped_message(skipped)
    )]
    AuditFailed {
        environment: String,
        failures: Vec<AuditResult>,
        /// Models not run because they read a model whose audit failed.
        skipped: Vec<String>,
    },
    #[error("{}", failure_message(environment, errors, audits, skipped))]
    ModelsFailed {
        environment: String,
        /// `model: error`, for each model whose work failed.
        errors: Vec<String>,
        /// Blocking audits that failed meanwhile.
        audits: Vec<AuditResult>,
        /// Models not run because they read a failed one.
        skipped: Vec<String>,
    },
    #[error(transparent)]
    Promote(#[from] PromoteError),
}

fn failure_message(
    environment: &str,
    errors: &[String],
    audits: &[AuditResult],
    skipped: &[String],
) -> String {
    let mut out = format!(
        "{} model(s) failed; environment {environment:?} was not changed (the models that did \
         not depend on them were built, and a rerun skips them):",
        errors.len() + audits.len()
    );
    for e in errors {
        out.push_str(&format!("\n  {e}"));
    }
    if !audits.is_empty() {
        out.push('\n');
        out.push_str(
            audit_failure_message(environment, audits)
                .split_once('\n')
                .map_or("", |(_, rest)| rest),
        );
    }
    out.push_str(&skipped_message(skipped));
    out
}

fn skipped_message(skipped: &[String]) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    format!(
        "\n  not run, because they read a failed model: {}",
        skipped.join(", ")
    )
}

fn audit_failure_message(environment: &str, failures: &[AuditResult]) -> String {
    let lines: Vec<String> = failures
        .iter()
        .map(|f| {
            let interval = f.interval.map(|i| format!(" for {i}")).unwrap_or_default();
            format!(
                "  {} on {}{interval}: {} violating row(s)",
                f.audit, f.model, f.violations
            )
        })
        .collect();
    format!(
        "blocking audit failed; environment {environment:?} was not changed:\n{}",
        lines.join("\n")
    )
}

/// Step 1: records the plan's snapshots and its units of work, and registers it. Restatements
/// are applied only by the call that registers the plan, so a repeated `prepare` never
/// discards work done since.
pub fn prepare(
    warehouse: &mut dyn Warehouse,
    plan: &Plan,
    statements: &Statements,
    now: i64,
) -> Result<PreparedPlan, StateError> {
    let mut state = StateStore::new(warehouse);
    state.init()?;
    // Stamped with this time: the janitor also spares recently recorded snapshots' tables.
    let snapshots: Vec<Snapshot> = plan
        .snapshots
        .iter()
        .map(|s| Snapshot {
            created_at: now,
            ..s.clone()
        })
        .collect();
    tracing::debug_span!("save snapshots").in_scope(|| state.save_snapshots(&snapshots))?;
    drop(snapshots);
    // Stored as they are made: a large plan's units are never all in memory at once.
    tracing::debug_span!("save work")
        .in_scope(|| state.save_work_units(&plan.basis.id, work_units(plan, &BTreeMap::new())))?;
    let prepared = plan.prepared(statements);
    let warehouse = state.warehouse();
    warehouse.begin()?;
    let registered = (|| {
        let mut state = StateStore::new(warehouse);
        if state.register_plan(&prepared, now)? {
            for (name, version, interval) in &plan.restatements {
                state.remove_interval(name, version, *interval)?;
            }
        } else {
            state.heartbeat_plan(&prepared.basis.id, now)?;
        }
        Ok::<_, StateError>(())
    })();
    match registered {
        Ok(()) => warehouse.commit()?,
        Err(e) => {
            let _ = warehouse.rollback();
            return Err(e);
        }
    }
    Ok(prepared)
}

/// Prepares the plan, runs all its work here, and promotes it.
pub fn apply(
    warehouse: &mut dyn Warehouse,
    plan: &Plan,
    audits: &BTreeMap<String, CustomAudit>,
    statements: &Statements,
    meta: PromoteMeta,
    progress: &mut dyn FnMut(ApplyEvent),
) -> Result<Release, ApplyError> {
    tracing::debug_span!("prepare").in_scope(|| prepare(warehouse, plan, statements, meta.now))?;
    let run = tracing::debug_span!("run work").entered();
    // One unit per backfill entry: a create, then a backfill and an audit per batch.
    let total: usize = plan.backfill.iter().map(|b| 1 + 2 * b.batches.len()).sum();
    let mut index = 0;
    // Units are made as they run: each carries its model and inputs, so a large plan's
    // would otherwise all be held at once.
    // A failure stops only what depends on it: independent models are still built (and
    // recorded, so a rerun skips them), and every failure is reported at the end.
    let (mut failed, mut errors, mut audit_failures, mut skipped) =
        (Vec::<String>::new(), Vec::new(), Vec::new(), Vec::new());
    for unit in work_units(plan, audits) {
        if unit.depends_on.iter().any(|d| failed.contains(d)) {
            failed.push(unit.model.clone());
            skipped.push(unit.model.clone());
            continue;
        }
        let outcome = run_work(warehouse, &unit, &mut |event| match event {
            WorkEvent::Task { task, .. } => {
                index += 1;
                progress(ApplyEvent::Task { index, total, task });
            }
            WorkEvent::TaskDone { task, outcome } => {
                progress(ApplyEvent::TaskDone { task, outcome });
            }
        });
        match outcome {
            Ok(outcome) if outcome.failures.is_empty() => {}
            Ok(outcome) => {
                failed.push(unit.model.clone());
                audit_failures.extend(outcome.failures);
            }
            // The warehouse itself is gone: nothing else can run either.
            Err(TaskError::Warehouse { error, task }) if error.is_unavailable() => {
                return Err(TaskError::Warehouse { error, task }.into());
            }
            Err(e) => {
                failed.push(unit.model.clone());
                errors.push(format!("{}: {e}", unit.model));
            }
        }
    }
    let environment = plan.basis.environment.clone();
    if errors.is_empty() && !audit_failures.is_empty() {
        return Err(ApplyError::AuditFailed {
            environment,
            failures: audit_failures,
            skipped,
        });
    }
    if !errors.is_empty() || !audit_failures.is_empty() {
        return Err(ApplyError::ModelsFailed {
            environment,
            errors,
            audits: audit_failures,
            skipped,
        });
    }
    drop(run);
    let release = tracing::debug_span!("promote")
        .in_scope(|| promote_plan(warehouse, &plan.basis.id, meta))?;
    progress(ApplyEvent::Promoted(&release));
    Ok(release)
}
