//! Plans: what applying the project to an environment would change, and what must be built.
//!
//! A plan diffs the project against the environment's current snapshots (a new environment
//! starts from `prod`), categorizes each change, assigns physical versions (new tables only
//! where data changes), and lists the missing intervals to backfill. It is pure: the caller
//! loads the environment, its snapshots and the stored intervals.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::categorize::{categorize_direct, categorize_indirect};
use crate::fingerprint::{fingerprint_all, fresh_version, short_hash};
use crate::graph::{Dag, Node, model_key};
use crate::intervals::{self, Cron, Interval, IntervalUnit};
use crate::model::{CustomAudit, ModelKind};
use crate::snapshot::{Category, EnvironmentRecord, Snapshot, SnapshotId};
use crate::sql::parse_query;

/// How a model differs from the environment's current version of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeType {
    Added,
    Removed,
    DirectlyModified,
    IndirectlyModified,
    MetadataUpdated,
}

impl ChangeType {
    /// Section heading in the human-readable summary.
    pub fn heading(self) -> &'static str {
        match self {
            ChangeType::Added => "Added",
            ChangeType::Removed => "Removed",
            ChangeType::DirectlyModified => "Directly Modified",
            ChangeType::IndirectlyModified => "Indirectly Modified",
            ChangeType::MetadataUpdated => "Metadata Updated",
        }
    }
}

/// One changed model in a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub model: String,
    pub change: ChangeType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    pub kind: String,
    pub version: String,
    pub table: String,
    pub backfill: Vec<Interval>,
}

/// The batches one snapshot needs, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backfill {
    pub snapshot: SnapshotId,
    pub model: String,
    pub version: String,
    pub batches: Vec<Interval>,
}

/// Options a user passes to `plan`/`apply`.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub environment: String,
    /// Earliest time to backfill from (epoch ms); default: each model's start.
    pub start: Option<i64>,
    /// Exclusive end (epoch ms); default: now, bounded by each model's last complete interval.
    pub end: Option<i64>,
    /// "Now" (epoch ms): fixes which intervals are complete.
    pub execution_time: i64,
    /// Reuse existing tables for every change; only missing intervals are computed.
    pub forward_only: bool,
    /// Models whose intervals in `[start, end)` are recomputed, with everything downstream.
    pub restate: Vec<String>,
}

/// A computed plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub id: String,
    pub environment: String,
    /// The environment revision the plan was computed against (`None`: it did not exist).
    pub base_revision: Option<i64>,
    pub execution_time: i64,
    pub changes: Vec<Change>,
    /// Every snapshot the environment will point at, parents first.
    pub snapshots: Vec<Snapshot>,
    pub backfill: Vec<Backfill>,
    /// Intervals to forget before backfilling, per (model, version).
    pub restatements: Vec<(String, String, Interval)>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    pub fn has_work(&self) -> bool {
        self.backfill.iter().any(|b| !b.batches.is_empty())
    }
}

/// What the planner is given from state.
pub struct PlanInputs<'a> {
    pub dag: &'a Dag,
    pub audits: &'a BTreeMap<String, CustomAudit>,
    /// The environment itself if it exists, else `prod` (new environments start from it).
    pub base: Option<&'a EnvironmentRecord>,
    /// The snapshots `base` points at.
    pub base_snapshots: &'a [Snapshot],
    /// Processed intervals per (model name, version).
    pub intervals: &'a HashMap<(String, String), Vec<Interval>>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{path}: model {model}: {message}")]
    Model {
        path: String,
        model: String,
        message: String,
    },
    #[error("--restate names {0:?}, which is not a model in the project")]
    UnknownRestatement(String),
    #[error("plan start {start} is after its end {end}")]
    EmptyRange { start: String, end: String },
}

/// Per-cron facts, computed once per distinct cron (parsing and tick search are not free).
struct CronFacts {
    unit: IntervalUnit,
    complete_until: i64,
}

/// Builds the plan for `options.environment`.
pub fn build(inputs: &PlanInputs, options: &PlanOptions) -> Result<Plan, PlanError> {
    let dag = inputs.dag;
    let fingerprints = fingerprint_all(dag, inputs.audits);
    let base: HashMap<String, &Snapshot> = inputs
        .base_snapshots
        .iter()
        .map(|s| (model_key(&s.model.name), s))
        .collect();
    let now_secs = options.execution_time / 1000;

    let mut categories: HashMap<String, Category> = HashMap::new();
    let mut versions: HashMap<String, String> = HashMap::new();
    let mut snapshots = Vec::with_capacity(dag.nodes.len());
    let mut changes = Vec::new();

    for node in &dag.nodes {
        let key = model_key(&node.model.name);
        let fp = fingerprints[&key].clone();
        let parent_versions: Vec<&str> = node
            .parents
            .iter()
            .map(|p| versions[&model_key(p)].as_str())
            .collect();
        let fresh = || fresh_version(&fp.data_hash, &parent_versions);
        let forward_only = options.forward_only || node.model.kind.forward_only();
        let old = base.get(&key).copied();
        let (change, category, version) = match old {
            None => (Some(ChangeType::Added), Some(Category::Breaking), fresh()),
            Some(old) if old.fingerprint == fp => (None, None, old.version.clone()),
            Some(old) => {
                let parent_categories: Vec<Category> = node
                    .parents
                    .iter()
                    .filter_map(|p| categories.get(&model_key(p)).copied())
                    .collect();
                let own_change = old.fingerprint.data_hash != fp.data_hash
                    || old.fingerprint.metadata_hash != fp.metadata_hash;
                let direct = if own_change && old.fingerprint.data_hash != fp.data_hash {
                    let old_node = node_of(old)?;
                    Some(categorize_direct(
                        &old_node,
                        &old.fingerprint.data_hash,
                        node,
                        &fp.data_hash,
                    ))
                } else if own_change {
                    Some(Category::Metadata)
                } else {
                    None
                };
                let indirect = categorize_indirect(&parent_categories);
                let kind_changed = old.model.kind.name() != node.model.kind.name();
                match (direct, indirect) {
                    // An edit that changes data keeps its own category (SQLMesh: a non-breaking
                    // edit below a breaking parent stays non-breaking).
                    (Some(c @ (Category::Breaking | Category::NonBreaking)), _) => {
                        if forward_only && !kind_changed {
                            (
                                Some(ChangeType::DirectlyModified),
                                Some(Category::ForwardOnly),
                                old.version.clone(),
                            )
                        } else {
                            (Some(ChangeType::DirectlyModified), Some(c), fresh())
                        }
                    }
                    (Some(_), Some(Category::IndirectBreaking))
                    | (None, Some(Category::IndirectBreaking)) => {
                        if forward_only {
                            (
                                Some(ChangeType::IndirectlyModified),
                                Some(Category::ForwardOnly),
                                old.version.clone(),
                            )
                        } else {
                            (
                                Some(ChangeType::IndirectlyModified),
                                Some(Category::IndirectBreaking),
                                fresh(),
                            )
                        }
                    }
                    (Some(_), _) => (
                        Some(ChangeType::MetadataUpdated),
                        Some(Category::Metadata),
                        old.version.clone(),
                    ),
                    (None, Some(Category::IndirectNonBreaking)) => (
                        Some(ChangeType::IndirectlyModified),
                        Some(if forward_only {
                            Category::ForwardOnly
                        } else {
                            Category::IndirectNonBreaking
                        }),
                        old.version.clone(),
                    ),
                    // Only parents' metadata changed: a new snapshot on the same table, which
                    // SQLMesh does not list as a change.
                    (None, _) => (None, Some(Category::Metadata), old.version.clone()),
                }
            }
        };
        if let Some(c) = category {
            categories.insert(key.clone(), c);
        }
        versions.insert(key.clone(), version.clone());
        let snapshot = match old {
            Some(old) if old.fingerprint == fp => old.clone(),
            _ => Snapshot {
                model: node.model.clone(),
                fingerprint: fp,
                version,
                parents: node.parents.clone(),
                category,
                created_at: now_secs,
            },
        };
        if let Some(change) = change {
            changes.push(change_of(&snapshot, change, category));
        }
        snapshots.push(snapshot);
    }

    for old in inputs.base_snapshots {
        if !dag.contains(&old.model.name) {
            changes.push(change_of(old, ChangeType::Removed, None));
        }
    }

    let restated = restated_models(dag, &options.restate)?;
    let mut cron_cache: HashMap<String, CronFacts> = HashMap::new();
    let mut backfill = Vec::new();
    let mut restatements = Vec::new();
    for snapshot in &snapshots {
        let model = &snapshot.model;
        if model.kind.is_symbolic() {
            continue;
        }
        let facts = cron_facts(&mut cron_cache, snapshot, options.execution_time)?;
        let Some(range) = model_range(snapshot, options, facts)? else {
            continue;
        };
        let stored_key = (model.name.clone(), snapshot.version.clone());
        let mut done = inputs
            .intervals
            .get(&stored_key)
            .cloned()
            .unwrap_or_default();
        if restated.contains(&model_key(&model.name))
            && !matches!(model.kind, ModelKind::Seed { .. })
        {
            restatements.push((model.name.clone(), snapshot.version.clone(), range));
            done = intervals::subtract(&intervals::merge(done), range);
        }
        let batches = batches_for(snapshot, &done, range, facts.unit);
        if !batches.is_empty() {
            backfill.push(Backfill {
                snapshot: snapshot.id(),
                model: model.name.clone(),
                version: snapshot.version.clone(),
                batches,
            });
        }
    }

    let by_model: HashMap<&str, &Backfill> =
        backfill.iter().map(|b| (b.model.as_str(), b)).collect();
    for change in &mut changes {
        if let Some(b) = by_model.get(change.model.as_str()) {
            change.backfill = b.batches.clone();
        }
    }
    changes.sort_by(|a, b| (a.change, &a.model).cmp(&(b.change, &b.model)));

    let mut identity: Vec<String> = vec![
        options.environment.clone(),
        format!("{:?}", inputs.base.map(|b| b.revision)),
    ];
    identity.extend(
        snapshots
            .iter()
            .map(|s| format!("{}:{}:{}", s.model.name, s.fingerprint.id(), s.version)),
    );
    identity.extend(
        backfill
            .iter()
            .map(|b| format!("{}:{:?}", b.model, b.batches)),
    );
    let id = short_hash(&identity.iter().map(String::as_str).collect::<Vec<_>>());

    Ok(Plan {
        id,
        environment: options.environment.clone(),
        base_revision: inputs
            .base
            .filter(|b| b.name == options.environment)
            .map(|b| b.revision),
        execution_time: options.execution_time,
        changes,
        snapshots,
        backfill,
        restatements,
    })
}

/// Re-parses a stored snapshot's query so its old version can be compared structurally.
fn node_of(snapshot: &Snapshot) -> Result<Node, PlanError> {
    let m = &snapshot.model;
    let query = match &m.query {
        Some(sql) => {
            Some(
                parse_query(sql, m.dialect, m.query_line).map_err(|e| PlanError::Model {
                    path: m.path.display().to_string(),
                    model: m.name.clone(),
                    message: format!("stored version no longer parses: {}", e.message),
                })?,
            )
        }
        None => None,
    };
    Ok(Node {
        model: m.clone(),
        query,
        parents: snapshot.parents.clone(),
        sources: BTreeSet::new(),
    })
}

fn change_of(snapshot: &Snapshot, change: ChangeType, category: Option<Category>) -> Change {
    Change {
        model: snapshot.model.name.clone(),
        change,
        category,
        kind: snapshot.model.kind.name().to_string(),
        version: snapshot.version.clone(),
        table: snapshot.table().to_string(),
        backfill: Vec::new(),
    }
}

/// Model keys to restate: the named models and everything downstream of them.
fn restated_models(dag: &Dag, names: &[String]) -> Result<BTreeSet<String>, PlanError> {
    let mut out = BTreeSet::new();
    for name in names {
        if !dag.contains(name) {
            return Err(PlanError::UnknownRestatement(name.clone()));
        }
        out.insert(model_key(name));
        out.extend(dag.downstream(name).iter().map(|n| model_key(n)));
    }
    Ok(out)
}

fn model_error(snapshot: &Snapshot, message: String) -> PlanError {
    PlanError::Model {
        path: snapshot.model.path.display().to_string(),
        model: snapshot.model.name.clone(),
        message,
    }
}

fn cron_facts<'c>(
    cache: &'c mut HashMap<String, CronFacts>,
    snapshot: &Snapshot,
    now: i64,
) -> Result<&'c CronFacts, PlanError> {
    let cron = &snapshot.model.cron;
    if !cache.contains_key(cron) {
        let parsed = Cron::parse(cron).map_err(|e| model_error(snapshot, e.to_string()))?;
        let unit = parsed.interval_unit().unwrap_or(IntervalUnit::Day);
        cache.insert(
            cron.clone(),
            CronFacts {
                unit,
                complete_until: parsed.complete_until(now),
            },
        );
    }
    Ok(&cache[cron])
}

/// The `[start, end)` a snapshot should cover, or `None` when the range is empty.
fn model_range(
    snapshot: &Snapshot,
    options: &PlanOptions,
    facts: &CronFacts,
) -> Result<Option<Interval>, PlanError> {
    let model = &snapshot.model;
    let now = options.execution_time;
    let parse = |s: &str| {
        intervals::parse_time(s, now)
            .map(|t| t.0)
            .map_err(|e| model_error(snapshot, e))
    };
    let model_start = match &model.start {
        Some(s) => parse(s)?,
        // SQLMesh's default for a model without a start: yesterday.
        None => IntervalUnit::Day.floor(now) - 86_400_000,
    };
    let start = options.start.map_or(model_start, |s| s.max(model_start));
    let mut end = options
        .end
        .map_or(facts.complete_until, |e| e.min(facts.complete_until));
    if let Some(model_end) = &model.end {
        end = end.min(intervals::parse_end(model_end, now).map_err(|e| model_error(snapshot, e))?);
    }
    let start = facts.unit.floor(start);
    let end = facts.unit.floor(end);
    Ok((start < end).then_some(Interval::new(start, end)))
}

/// Batches to run for one snapshot given what its table already has.
fn batches_for(
    snapshot: &Snapshot,
    done: &[Interval],
    range: Interval,
    unit: IntervalUnit,
) -> Vec<Interval> {
    let kind = &snapshot.model.kind;
    let merged = intervals::merge(done.to_vec());
    let covered = merged
        .iter()
        .any(|d| d.start <= range.start && range.end <= d.end);
    match kind {
        // A seed is loaded once; later plans never reload an unchanged one.
        ModelKind::Seed { .. } if !merged.is_empty() => Vec::new(),
        _ if covered => Vec::new(),
        // Whole-table kinds rebuild everything in one go when anything is missing.
        ModelKind::Full | ModelKind::View | ModelKind::Seed { .. } => vec![range],
        ModelKind::IncrementalByTimeRange {
            lookback,
            batch_size,
            ..
        } => {
            let missing =
                intervals::missing_intervals(unit, &merged, range.start, range.end, *lookback);
            intervals::batches(&missing, *batch_size)
        }
        ModelKind::IncrementalByUniqueKey { batch_size, .. } => {
            let missing = intervals::missing_intervals(unit, &merged, range.start, range.end, 0);
            intervals::batches(&missing, *batch_size)
        }
        ModelKind::Embedded | ModelKind::External => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
