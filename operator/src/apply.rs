//! Applying a plan: record its snapshots, run its tasks, promote. Each step is safe to repeat,
//! so rerunning an interrupted apply converges: finished batches are recorded and skipped by
//! the next plan, half-written batches were rolled back, and promotion is one transaction.

use std::collections::BTreeMap;

use crate::executor::{Task, TaskError, TaskOutcome, plan_tasks, run_task};
use crate::model::CustomAudit;
use crate::plan::Plan;
use crate::promote::{PromoteError, Promotion, promote};
use crate::snapshot::{AuditResult, Release, ReleaseKind, Snapshot};
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

/// Who and how long: the parts of a promotion that do not come from the plan.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    pub created_by: String,
    /// Seconds since the epoch.
    pub now: i64,
    /// Seconds until a non-prod environment expires.
    pub ttl: Option<i64>,
    pub approvals: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Task(#[from] TaskError),
    #[error("{}", audit_failure_message(environment, failures))]
    AuditFailed {
        environment: String,
        failures: Vec<AuditResult>,
    },
    #[error(transparent)]
    Promote(#[from] PromoteError),
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

/// Runs the plan's tasks and promotes its snapshots into the plan's environment.
pub fn apply(
    warehouse: &mut dyn Warehouse,
    plan: &Plan,
    audits: &BTreeMap<String, CustomAudit>,
    options: &ApplyOptions,
    progress: &mut dyn FnMut(ApplyEvent),
) -> Result<Release, ApplyError> {
    let mut state = StateStore::new(warehouse);
    state.init()?;
    // Stamped with the apply's time: the janitor spares recently recorded snapshots' tables,
    // which this apply is about to build and promote.
    let snapshots: Vec<_> = plan
        .snapshots
        .iter()
        .map(|s| Snapshot {
            created_at: options.now,
            ..s.clone()
        })
        .collect();
    state.save_snapshots(&snapshots)?;
    for (name, version, interval) in &plan.restatements {
        state.remove_interval(name, version, *interval)?;
    }
    let tasks = plan_tasks(plan, audits);
    let mut audit_results = Vec::new();
    for (i, task) in tasks.iter().enumerate() {
        progress(ApplyEvent::Task {
            index: i + 1,
            total: tasks.len(),
            task,
        });
        let outcome = run_task(warehouse, task)?;
        progress(ApplyEvent::TaskDone {
            task,
            outcome: &outcome,
        });
        let failures: Vec<AuditResult> = outcome.blocking_failures().into_iter().cloned().collect();
        if !failures.is_empty() {
            return Err(ApplyError::AuditFailed {
                environment: plan.environment.clone(),
                failures,
            });
        }
        audit_results.extend(outcome.audits);
    }
    let release = promote(
        warehouse,
        Promotion {
            environment: plan.environment.clone(),
            plan_id: plan.id.clone(),
            snapshots: plan.snapshots.iter().map(|s| s.reference()).collect(),
            expected_revision: plan.base_revision,
            kind: ReleaseKind::Promotion,
            restored_release: None,
            audits: audit_results,
            approvals: options.approvals.clone(),
            created_by: options.created_by.clone(),
            now: options.now,
            ttl: options.ttl,
        },
    )?;
    progress(ApplyEvent::Promoted(&release));
    Ok(release)
}
