//! A plan's work as a graph of per-model units: each unit creates one model's table and runs
//! its batches (backfill, then audit) in order, after the units it depends on. Independent
//! units can run in parallel, in separate processes (the operator runs one Job per unit).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use sluice_engine::graph::model_key;
use sluice_engine::intervals::{self, Interval, IntervalUnit};
use sluice_engine::model::CustomAudit;
use sluice_engine::plan::Plan;
use sluice_engine::snapshot::{AuditResult, Snapshot};

use super::{Target, Task, TaskError, TaskOutcome, run_task, target_for};
use crate::state::StateStore;
use crate::warehouse::Warehouse;

/// Everything one model needs built for a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelWork {
    pub model: String,
    /// Models whose units must have finished first (the nearest ancestors with work).
    pub depends_on: Vec<String>,
    pub target: Target,
    /// The range the table's shape is rendered with when it comes from the query.
    pub range: Interval,
    /// Batches to compute and audit, in order (empty: only the table is created).
    pub batches: Vec<Interval>,
    /// The registered plan this work belongs to, kept alive by a heartbeat as batches finish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
}

impl ModelWork {
    /// The physical table, e.g. `sluice__stg.stg__orders__3fa2c1d4e5`.
    pub fn table(&self) -> String {
        self.target.snapshot.table().to_string()
    }

    /// The unit's tasks in order: create, then each batch's backfill and audit.
    pub fn tasks(&self) -> Vec<Task> {
        let target = Box::new(self.target.clone());
        let mut tasks = vec![Task::Create {
            target: target.clone(),
            range: self.range,
        }];
        for &interval in &self.batches {
            tasks.push(Task::Backfill {
                target: target.clone(),
                interval,
            });
            tasks.push(Task::Audit {
                target: target.clone(),
                interval,
            });
        }
        tasks
    }
}

/// The plan's work, parents before children: a unit for every model in the plan's backfill —
/// with batches to run, or none yet but a new table to create (it must exist to be promoted).
pub fn plan_work(plan: &Plan, audits: &BTreeMap<String, CustomAudit>) -> Vec<ModelWork> {
    work_units(plan, audits).collect()
}

/// [`plan_work`] one unit at a time, so a caller that runs or stores the units as they come
/// never holds them all (each carries its model and the tables it reads).
pub fn work_units<'p>(
    plan: &'p Plan,
    audits: &'p BTreeMap<String, CustomAudit>,
) -> impl Iterator<Item = ModelWork> + 'p {
    let by_key: BTreeMap<String, &Snapshot> = plan
        .snapshots
        .iter()
        .map(|s| (model_key(&s.model.name), s))
        .collect();
    let table_versions: BTreeMap<String, String> = plan
        .snapshots
        .iter()
        .map(|s| (s.model.name.clone(), plan.table_version(s).to_string()))
        .collect();
    let batches: HashMap<&str, &[Interval]> = plan
        .backfill
        .iter()
        .map(|b| (b.model.as_str(), b.batches.as_slice()))
        .collect();
    let idle_range = Interval::new(
        IntervalUnit::Day.floor(plan.basis.execution_time),
        IntervalUnit::Day.floor(plan.basis.execution_time),
    );
    // Nearest ancestors with work, per model key: a model without work passes its own on.
    let mut upstream_work: HashMap<String, BTreeSet<String>> = HashMap::new();
    plan.snapshots.iter().filter_map(move |snapshot| {
        let name = snapshot.model.name.as_str();
        let key = model_key(name);
        let mut depends_on = BTreeSet::new();
        for parent in &snapshot.parents {
            if let Some(found) = upstream_work.get(&model_key(parent)) {
                depends_on.extend(found.iter().cloned());
            }
        }
        let Some(own) = batches.get(name).copied() else {
            upstream_work.insert(key, depends_on);
            return None;
        };
        let target = target_for(
            snapshot,
            &by_key,
            &table_versions,
            audits,
            plan.basis.execution_time,
        );
        // What its audits read besides its parents (the target's other inputs) is built first
        // too; the plan puts those models earlier unless they are downstream of it.
        for input in target.inputs.keys() {
            if let Some(found) = upstream_work.get(input) {
                depends_on.extend(found.iter().cloned());
            }
        }
        let batches = own.to_vec();
        let range = match (batches.first(), batches.last()) {
            (Some(first), Some(last)) => Interval::new(first.start, last.end),
            _ => idle_range,
        };
        upstream_work.insert(key, BTreeSet::from([name.to_string()]));
        Some(ModelWork {
            model: name.to_string(),
            depends_on: depends_on.into_iter().collect(),
            target,
            range,
            batches,
            plan_id: Some(plan.basis.id.clone()),
        })
    })
}

/// Progress of one unit.
pub enum WorkEvent<'a> {
    /// About to run a task (`skipped`: its batch is already recorded, e.g. by an earlier,
    /// interrupted run of this unit).
    Task { task: &'a Task, skipped: bool },
    TaskDone {
        task: &'a Task,
        outcome: &'a TaskOutcome,
    },
}

/// What a unit did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkOutcome {
    pub audits: Vec<AuditResult>,
    /// Batches that were already recorded and not run again.
    pub skipped: Vec<Interval>,
    /// Blocking audits that failed: the unit stopped at the first failing batch.
    pub failures: Vec<AuditResult>,
}

/// Records what a batch took, for the estimates of later plans. Statistics are advisory: a
/// failure to count or record them is logged, never fatal.
fn record_stats(
    warehouse: &mut dyn Warehouse,
    target: &Target,
    interval: Interval,
    took: std::time::Duration,
) {
    let model = &target.snapshot.model;
    let rows = if model.kind.is_materialized_by_query()
        || matches!(model.kind, sluice_engine::model::ModelKind::Seed { .. })
    {
        let sql = format!(
            "SELECT COUNT(*) FROM {}",
            super::audited_rows(target, interval)
        );
        warehouse
            .query(&sql)
            .ok()
            .and_then(|rows| rows.into_iter().next())
            .and_then(|row| row.into_iter().next().flatten())
            .and_then(|n| n.parse::<u64>().ok())
    } else {
        None
    };
    let recorded = StateStore::new(warehouse).record_batch_stats(
        model.name.as_str(),
        &target.snapshot.version,
        interval,
        rows,
        took.as_millis() as i64,
    );
    if let Err(e) = recorded {
        tracing::warn!(model = %model.name, error = %e, "could not record batch statistics");
    }
}

/// Runs one unit: creates the table, then each batch not already recorded (so a rerun after a
/// crash resumes where it stopped), stopping at the first batch whose blocking audits fail.
pub fn run_work(
    warehouse: &mut dyn Warehouse,
    work: &ModelWork,
    progress: &mut dyn FnMut(WorkEvent),
) -> Result<WorkOutcome, TaskError> {
    let mut outcome = WorkOutcome::default();
    let name = work.target.model_name().to_string();
    let version = work.target.snapshot.version.clone();
    // What an earlier, interrupted run recorded (this run's batches do not overlap).
    let recorded = if work.batches.is_empty() {
        Vec::new()
    } else {
        intervals::merge(StateStore::new(warehouse).intervals(&name, &version)?)
    };
    for task in work.tasks() {
        let done = match &task {
            Task::Backfill { interval, .. } | Task::Audit { interval, .. } => recorded
                .iter()
                .any(|r| r.start <= interval.start && interval.end <= r.end),
            Task::Create { .. } => false,
        };
        progress(WorkEvent::Task {
            task: &task,
            skipped: done,
        });
        if done {
            if let Task::Audit { interval, .. } = &task {
                outcome.skipped.push(*interval);
            }
            continue;
        }
        let started = std::time::Instant::now();
        let result = run_task(warehouse, &task)?;
        if let Task::Backfill { target, interval } = &task {
            record_stats(warehouse, target, *interval, started.elapsed());
        }
        progress(WorkEvent::TaskDone {
            task: &task,
            outcome: &result,
        });
        let failures: Vec<AuditResult> = result.blocking_failures().into_iter().cloned().collect();
        outcome.audits.extend(result.audits);
        if !failures.is_empty() {
            outcome.failures = failures;
            return Ok(outcome);
        }
        if let (Task::Audit { .. }, Some(plan)) = (&task, &work.plan_id) {
            StateStore::new(warehouse).heartbeat_plan(plan, chrono::Utc::now().timestamp())?;
        }
    }
    Ok(outcome)
}
