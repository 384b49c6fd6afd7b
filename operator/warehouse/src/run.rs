//! Scheduled runs (`sluice run`): keeps an environment fresh by processing, for its current
//! snapshots, the intervals that became complete since they were last run — no plan, no
//! promotion. Each batch is recorded for the table version it wrote, so a run racing a
//! promotion of the same environment can only add intervals to the tables it was given.

use std::collections::BTreeMap;

use sluice_engine::plan::{PlanError, for_run};
use sluice_engine::snapshot::AuditResult;

use crate::executor::{ModelWork, TaskError, WorkEvent, WorkOutcome, plan_work, run_work};
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

/// The work a run of `environment` at `execution_time` would do (empty when it is fresh), and
/// the run's id.
pub fn pending_run(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    execution_time: i64,
) -> Result<(String, Vec<ModelWork>), RunError> {
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
    Ok((plan.basis.id, work))
}

/// The work a run of `environment` at `execution_time` would do (empty when it is fresh).
pub fn pending_work(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    execution_time: i64,
) -> Result<Vec<ModelWork>, RunError> {
    Ok(pending_run(warehouse, environment, execution_time)?.1)
}

/// Each unit's model and the models it waits for.
pub type WorkIndex = Vec<(String, Vec<String>)>;

/// Stores a run's units in the warehouse so Jobs can fetch them by model; returns its id and
/// the units' models with what each waits for (`None`: nothing to run).
pub fn store_run(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    execution_time: i64,
) -> Result<Option<(String, WorkIndex)>, RunError> {
    let (id, work) = pending_run(warehouse, environment, execution_time)?;
    if work.is_empty() {
        return Ok(None);
    }
    StateStore::new(warehouse).save_work(&id, &work)?;
    let index = work.into_iter().map(|w| (w.model, w.depends_on)).collect();
    Ok(Some((id, index)))
}

/// When the environment next has an interval to run (epoch ms): the earliest next cron tick of
/// its models after `now`.
pub fn next_due(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    now: i64,
) -> Result<Option<i64>, RunError> {
    let mut state = StateStore::new(warehouse);
    let Some(env) = state.environment(environment)? else {
        return Ok(None);
    };
    let ids: Vec<_> = env.snapshots.iter().map(|r| r.id()).collect();
    let crons: std::collections::BTreeSet<String> = state
        .load_snapshots(&ids)?
        .into_iter()
        .filter(|s| !s.model.kind.is_symbolic())
        .map(|s| s.model.cron)
        .collect();
    Ok(crons
        .iter()
        .filter_map(|c| {
            sluice_engine::intervals::Cron::parse(c)
                .ok()?
                .next_tick(now)
        })
        .min())
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
    if !work.is_empty() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        StateStore::new(warehouse).touch_environment(environment, now)?;
    }
    Ok(report)
}
