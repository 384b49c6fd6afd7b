//! Scheduled runs (`sluice run`): keeps an environment fresh by processing, for its current
//! snapshots, the intervals that became complete since they were last run — no plan, no
//! promotion. Each batch is recorded for the table version it wrote, so a run racing a
//! promotion of the same environment can only add intervals to the tables it was given.

use std::collections::BTreeMap;

use crate::executor::{ModelWork, TaskError, WorkEvent, WorkOutcome, plan_work, run_work};
use crate::plan::{PlanError, for_run};
use crate::snapshot::AuditResult;
use crate::state::{StateError, StateStore};
use crate::warehouse::Warehouse;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("environment {0:?} does not exist (apply a plan to it first)")]
    UnknownEnvironment(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Task(#[from] TaskError),
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct RunReport {
    /// Models that had new intervals, with the batches run for each.
    pub models: Vec<(String, usize)>,
    /// Blocking audit failures; the failing batch was not recorded and is retried next run.
    pub failures: Vec<AuditResult>,
}

/// The work a run of `environment` at `execution_time` would do (empty when it is fresh).
pub fn pending_work(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    execution_time: i64,
) -> Result<Vec<ModelWork>, RunError> {
    let mut state = StateStore::new(warehouse);
    state.init()?;
    let env = state
        .environment(environment)?
        .ok_or_else(|| RunError::UnknownEnvironment(environment.to_string()))?;
    let ids: Vec<_> = env.snapshots.iter().map(|r| r.id()).collect();
    let snapshots = state.load_snapshots(&ids)?;
    let intervals = state.all_intervals()?;
    let plan = for_run(&env, snapshots, &intervals, execution_time)?;
    // Custom audits come with the snapshots, as they were planned.
    let mut work = plan_work(&plan, &BTreeMap::new());
    for unit in &mut work {
        // The environment's own record keeps these tables; no plan registration needed.
        unit.plan_id = None;
    }
    Ok(work)
}

/// Runs every pending unit of `environment`, in dependency order. A unit whose blocking audit
/// fails stops (its later batches wait for the next run); the others go on.
pub fn run_environment(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    execution_time: i64,
    progress: &mut dyn FnMut(&ModelWork, WorkEvent),
) -> Result<RunReport, RunError> {
    let work = pending_work(warehouse, environment, execution_time)?;
    let mut report = RunReport::default();
    let mut failed: Vec<String> = Vec::new();
    for unit in &work {
        if unit.depends_on.iter().any(|d| failed.contains(d)) {
            failed.push(unit.model.clone());
            continue;
        }
        let outcome: WorkOutcome = run_work(warehouse, unit, &mut |e| progress(unit, e))?;
        if outcome.failures.is_empty() {
            report.models.push((unit.model.clone(), unit.batches.len()));
        } else {
            failed.push(unit.model.clone());
            report.failures.extend(outcome.failures);
        }
    }
    Ok(report)
}
