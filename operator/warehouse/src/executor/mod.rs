//! Tasks: the self-contained units of work an apply runs — create a table, compute one batch,
//! audit one batch (and record it). Each task carries everything it needs (the snapshot, its
//! inputs' physical tables, custom audits), so a Kubernetes Job can run one from JSON with
//! nothing but a warehouse connection. Every task is safe to repeat.
//!
//! `work` groups a plan's tasks per model into a graph, so independent models can be built
//! in parallel (one Job each under the operator).

mod kinds;
pub mod render;
mod work;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sluice_engine::audit::{is_blocking, render_audit};
use sluice_engine::graph::model_key;
use sluice_engine::intervals::{Interval, format_boundary_as};
use sluice_engine::model::{CustomAudit, ModelKind};
use sluice_engine::plan::Plan;
use sluice_engine::snapshot::{AuditResult, PhysicalTable, Snapshot, quote_literal};
use sluice_engine::sql::MacroValues;

use crate::state::{StateError, StateStore};
use crate::warehouse::{Warehouse, WarehouseError};

pub use render::Input;
pub use work::{ModelWork, WorkEvent, WorkOutcome, plan_work, run_work, work_units};

/// A snapshot with everything needed to build it, independent of the project directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub snapshot: Snapshot,
    /// What each relation the query reads stands for (lower-cased model name → input).
    pub inputs: BTreeMap<String, Input>,
    /// The custom audits the model uses.
    pub audits: BTreeMap<String, CustomAudit>,
    pub execution_time: i64,
}

impl Target {
    pub fn model_name(&self) -> &str {
        &self.snapshot.model.name
    }

    /// The physical table, quoted for SQL.
    pub fn table_sql(&self) -> String {
        self.snapshot.table().quoted()
    }
}

/// One unit of work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum Task {
    /// Creates the physical table (or view) if it does not exist. `range` feeds macros when
    /// the table's shape is taken from the query.
    Create {
        target: Box<Target>,
        range: Interval,
    },
    /// Computes one batch into the table; does not record it (the audit does).
    Backfill {
        target: Box<Target>,
        interval: Interval,
    },
    /// Audits one batch; records the interval only if every blocking audit passed.
    Audit {
        target: Box<Target>,
        interval: Interval,
    },
}

impl Task {
    pub fn target(&self) -> &Target {
        match self {
            Task::Create { target, .. }
            | Task::Backfill { target, .. }
            | Task::Audit { target, .. } => target,
        }
    }

    /// A short human description: `backfill stg.orders 2024-01-01 - 2024-01-02`.
    pub fn describe(&self) -> String {
        match self {
            Task::Create { target, .. } => format!("create {}", target.snapshot.table()),
            Task::Backfill { target, interval } => {
                format!("backfill {} {interval}", target.model_name())
            }
            Task::Audit { target, interval } => format!("audit {} {interval}", target.model_name()),
        }
    }
}

/// What a task found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskOutcome {
    pub audits: Vec<AuditResult>,
    /// For audit tasks: whether the interval was recorded (all blocking audits passed).
    pub recorded: bool,
}

impl TaskOutcome {
    pub fn blocking_failures(&self) -> Vec<&AuditResult> {
        self.audits
            .iter()
            .filter(|a| a.blocking && !a.passed())
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("{task}: {error}")]
    Warehouse { task: String, error: WarehouseError },
    #[error("{task}: {message}")]
    Invalid { task: String, message: String },
    #[error(transparent)]
    Render(#[from] render::RenderError),
    #[error(transparent)]
    State(#[from] StateError),
}

/// Runs one task against the warehouse.
pub fn run_task(warehouse: &mut dyn Warehouse, task: &Task) -> Result<TaskOutcome, TaskError> {
    match task {
        Task::Create { target, range } => {
            kinds::create(warehouse, target, *range)?;
            Ok(TaskOutcome::default())
        }
        Task::Backfill { target, interval } => {
            kinds::backfill(warehouse, target, *interval)?;
            Ok(TaskOutcome::default())
        }
        Task::Audit { target, interval } => audit(warehouse, target, *interval),
    }
}

/// SQL that stands for `@this_model` in audits of one batch: the batch's rows for a
/// time-ranged model, the whole table otherwise.
pub(crate) fn audited_rows(target: &Target, interval: Interval) -> String {
    match &target.snapshot.model.kind {
        ModelKind::IncrementalByTimeRange {
            time_column,
            time_format,
            ..
        } => format!(
            "(SELECT * FROM {} WHERE {}) AS __this_batch",
            target.table_sql(),
            within_batch(time_column, time_format.as_deref(), interval)
        ),
        _ => target.table_sql(),
    }
}

/// `column` within `interval`, its boundaries written as the column holds times (a text
/// column's format is the model author's, so they are quoted as literals, not pasted in).
pub(crate) fn within_batch(column: &str, time_format: Option<&str>, interval: Interval) -> String {
    let start = quote_literal(&format_boundary_as(interval.start, time_format));
    let end = quote_literal(&format_boundary_as(interval.end, time_format));
    format!("{column} >= {start} AND {column} < {end}")
}

fn audit(
    warehouse: &mut dyn Warehouse,
    target: &Target,
    interval: Interval,
) -> Result<TaskOutcome, TaskError> {
    let task = format!("audit {} {interval}", target.model_name());
    let model = &target.snapshot.model;
    let this_model = audited_rows(target, interval);
    let macros = MacroValues::for_interval(interval.start, interval.end, target.execution_time);
    let ran_at = chrono::Utc::now().timestamp();
    let ran_by = match std::env::var("HOSTNAME") {
        Ok(host) if !host.is_empty() => format!("{task} (on {host})"),
        _ => task.clone(),
    };
    let mut results = Vec::new();
    for call in &model.audits {
        let sql =
            render_audit(call, &target.audits, &this_model).map_err(|e| TaskError::Invalid {
                task: task.clone(),
                message: e.to_string(),
            })?;
        let sql = render::render_audit_tables(
            model,
            &target.inputs,
            &target.table_sql(),
            &macros.apply(&sql),
        );
        let blocking = is_blocking(call, &target.audits);
        let rows = match warehouse.query(&format!("SELECT COUNT(*) FROM (\n{sql}\n) AS __audit")) {
            Ok(rows) => rows,
            Err(error) if !blocking && !error.is_unavailable() => {
                results.push(AuditResult {
                    model: model.name.clone(),
                    audit: call.name.clone(),
                    blocking,
                    interval: Some(interval),
                    violations: 0,
                    version: target.snapshot.version.clone(),
                    ran_at,
                    task: ran_by.clone(),
                    error: Some(
                        error
                            .to_string()
                            .lines()
                            .next()
                            .unwrap_or_default()
                            .to_string(),
                    ),
                });
                continue;
            }
            Err(error) => {
                return Err(TaskError::Warehouse {
                    task: format!("{task}: {}", call.name),
                    error,
                });
            }
        };
        // Fail closed: a count that cannot be read is not a pass.
        let violations = match rows.as_slice() {
            [row] => row
                .first()
                .and_then(|v| v.as_deref())
                .and_then(|v| v.parse::<u64>().ok()),
            _ => None,
        }
        .ok_or_else(|| TaskError::Invalid {
            task: format!("{task}: {}", call.name),
            message: format!("the audit's violation count cannot be read (got {rows:?})"),
        })?;
        results.push(AuditResult {
            model: model.name.clone(),
            audit: call.name.clone(),
            blocking,
            interval: Some(interval),
            violations,
            version: target.snapshot.version.clone(),
            ran_at,
            task: ran_by.clone(),
            error: None,
        });
    }
    let mut outcome = TaskOutcome {
        recorded: false,
        audits: results,
    };
    let mut state = StateStore::new(warehouse);
    state.record_audit_results(&outcome.audits)?;
    if outcome.blocking_failures().is_empty() {
        state.add_interval(&model.name, &target.snapshot.version, interval)?;
        outcome.recorded = true;
    }
    Ok(outcome)
}

/// The tasks that carry out a plan's backfill, in dependency order: for each model with
/// work, create its table, then backfill and audit each batch.
pub fn plan_tasks(plan: &Plan, audits: &BTreeMap<String, CustomAudit>) -> Vec<Task> {
    plan_work(plan, audits)
        .iter()
        .flat_map(ModelWork::tasks)
        .collect()
}

/// The custom audits a snapshot's model calls: the project's, else those it was planned with.
pub(crate) fn used_audits(
    snapshot: &Snapshot,
    audits: &BTreeMap<String, CustomAudit>,
) -> BTreeMap<String, CustomAudit> {
    snapshot
        .model
        .audits
        .iter()
        .filter_map(|a| {
            let name = a.base_name();
            audits
                .get(name)
                .or_else(|| snapshot.custom_audits.get(name))
                .map(|c| (name.to_string(), c.clone()))
        })
        .collect()
}

/// Resolves a snapshot's inputs within its snapshot set: parents' tables (their table in this
/// environment, `table_versions`), embedded parents (with their own inputs), external models
/// by their own name. The target's snapshot carries the table version it writes to.
pub fn target_for(
    snapshot: &Snapshot,
    snapshots: &BTreeMap<String, &Snapshot>,
    table_versions: &BTreeMap<String, String>,
    audits: &BTreeMap<String, CustomAudit>,
    execution_time: i64,
) -> Target {
    let version_of = |s: &Snapshot| {
        table_versions
            .get(&s.model.name)
            .cloned()
            .unwrap_or_else(|| s.version.clone())
    };
    let used = used_audits(snapshot, audits);
    let audit_reads = sluice_engine::audit::audit_reads(&snapshot.model, &used);
    let mut inputs = BTreeMap::new();
    let mut pending: Vec<&str> = snapshot
        .parents
        .iter()
        .map(String::as_str)
        .chain(audit_reads.iter().map(String::as_str))
        .collect();
    while let Some(parent) = pending.pop() {
        let key = model_key(parent);
        if inputs.contains_key(&key) {
            continue;
        }
        let Some(p) = snapshots.get(&key) else {
            continue;
        };
        let input = match p.model.kind {
            ModelKind::Embedded => {
                pending.extend(p.parents.iter().map(String::as_str));
                Input::Embedded(Box::new(p.model.clone()))
            }
            ModelKind::External => Input::Table(external_table(&p.model.name)),
            _ => Input::Table(PhysicalTable::new(&p.model.name, &version_of(p)).quoted()),
        };
        inputs.insert(key, input);
    }
    Target {
        snapshot: Snapshot {
            version: version_of(snapshot),
            ..snapshot.clone()
        },
        inputs,
        audits: used,
        execution_time,
    }
}

/// An external model is read under its own name.
fn external_table(name: &str) -> String {
    name.split('.')
        .map(sluice_engine::snapshot::quote_ident)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: &str, query: &str) -> Model {
        Model::full(name, query)
    }
    use crate::warehouse::{Result as WhResult, Row};
    use sluice_engine::model::{AuditArg, AuditCall, Dialect, Model};
    use sluice_engine::snapshot::Fingerprint;

    /// A warehouse whose audit count query answers with something that is not a count.
    struct Garbled;

    impl Warehouse for Garbled {
        fn dialect(&self) -> Dialect {
            Dialect::Duckdb
        }
        fn execute(&mut self, _sql: &str) -> WhResult<()> {
            Ok(())
        }
        fn query(&mut self, _sql: &str) -> WhResult<Vec<Row>> {
            Ok(vec![vec![Some("not a number".into())]])
        }
    }

    #[test]
    fn an_unreadable_audit_result_fails_the_audit() {
        let mut m = model("s.m", "SELECT 1 AS id");
        m.audits = vec![AuditCall {
            name: "not_null".into(),
            args: [("columns".to_string(), AuditArg::List(vec!["id".into()]))].into(),
        }];
        let target = Target {
            snapshot: Snapshot {
                model: m,
                fingerprint: Fingerprint {
                    data_hash: "d".into(),
                    metadata_hash: "m".into(),
                    parent_data_hash: "p".into(),
                    parent_metadata_hash: "pm".into(),
                },
                version: "v".into(),
                parents: vec![],
                category: None,
                created_at: 0,
                custom_audits: BTreeMap::new(),
            },
            inputs: BTreeMap::new(),
            audits: BTreeMap::new(),
            execution_time: 0,
        };
        let task = Task::Audit {
            target: Box::new(target),
            interval: Interval::new(0, 86_400_000),
        };
        let error = run_task(&mut Garbled, &task).unwrap_err().to_string();
        assert!(error.contains("cannot be read"), "{error}");
    }
}
