//! Plans: what applying the project to an environment would change, and what must be built.
//!
//! A plan diffs the project against the environment's current snapshots (a new environment
//! starts from `prod`), categorizes each change, assigns physical versions (new tables only
//! where data changes), and lists the missing intervals to backfill. It is pure: the caller
//! loads the environment, its snapshots and the stored intervals.

pub mod impact;
mod versions;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use versions::{Versioner, change_of};

use crate::fingerprint::fingerprint_all;
use crate::grants::GrantChange;
use crate::graph::{Dag, Node, model_key};
use crate::intervals::{self, Cron, Interval, IntervalUnit};
use crate::model::{CustomAudit, ModelKind, Statements};
use crate::products::Product;
use crate::snapshot::{Category, EnvironmentRecord, Snapshot, SnapshotId, SnapshotRef};
use crate::sql::parse_query;

pub use impact::{Impact, ProductImpact};
pub use versions::DEV_SUFFIX;

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
    /// The version of the table the batches write to (a dev table's ends in `__dev`).
    pub version: String,
    pub batches: Vec<Interval>,
}

/// Options a user passes to `plan`/`apply`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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

/// What a plan is, computed or prepared: its identity, the environment state it was computed
/// against, the changes and what they do to the project's data products.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanBasis {
    pub id: String,
    /// `sha256:...` of what promoting this plan would do: the environment, the release it was
    /// computed against, the target snapshots and tables, categories and restatements. It
    /// does not change as the backfill runs, so approvals can bind to it.
    pub digest: String,
    pub environment: String,
    /// The environment revision the plan was computed against (`None`: it did not exist).
    pub base_revision: Option<i64>,
    /// The release current in the environment the plan was diffed against.
    pub base_release: Option<String>,
    pub execution_time: i64,
    pub changes: Vec<Change>,
    /// The project's data products (`products.yaml`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<Product>,
    /// What the plan does to them.
    #[serde(default, skip_serializing_if = "Impact::is_empty")]
    pub impact: Impact,
    /// What was planned: the project files' digest and the source revision, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceInfo>,
    /// Models whose declared grants change (applied when the environment is flipped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<GrantChange>,
}

impl PlanBasis {
    /// A plan of `changes` into `environment` as it was at `base_revision` / `base_release`;
    /// its id and digest are set once it is complete.
    pub fn new(
        environment: &str,
        base_revision: Option<i64>,
        base_release: Option<String>,
        execution_time: i64,
        changes: Vec<Change>,
    ) -> PlanBasis {
        PlanBasis {
            id: String::new(),
            digest: String::new(),
            environment: environment.to_string(),
            base_revision,
            base_release,
            execution_time,
            changes,
            products: Vec::new(),
            impact: Impact::default(),
            source: None,
            grants: Vec::new(),
        }
    }
}

/// A computed plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    #[serde(flatten)]
    pub basis: PlanBasis,
    /// Every snapshot the environment will point at, parents first.
    pub snapshots: Vec<Snapshot>,
    /// Model name → table version, for snapshots whose table in this environment is not
    /// their own version (dev tables of forward-only changes and what reads them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dev_tables: BTreeMap<String, String>,
    pub backfill: Vec<Backfill>,
    /// Intervals to forget before backfilling, per (model, table version).
    pub restatements: Vec<(String, String, Interval)>,
    /// Things the user should know that do not stop the plan (a restatement skipped, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The project a plan was computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// `sha256:...` of the project's files.
    pub digest: String,
    /// The git commit (or artifact revision) they came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        !self.basis.changes.is_empty()
    }

    pub fn has_work(&self) -> bool {
        self.backfill.iter().any(|b| !b.batches.is_empty())
    }

    /// The table version `snapshot` uses in this plan's environment.
    pub fn table_version<'s>(&'s self, snapshot: &'s Snapshot) -> &'s str {
        self.dev_tables
            .get(&snapshot.model.name)
            .map_or(snapshot.version.as_str(), String::as_str)
    }

    /// What the environment's record will point at: each snapshot with its table here.
    pub fn references(&self) -> Vec<SnapshotRef> {
        self.snapshots
            .iter()
            .map(|s| SnapshotRef {
                version: self.table_version(s).to_string(),
                ..s.reference()
            })
            .collect()
    }
}

/// What promoting a plan needs, kept in state from `prepare` until promotion: the promise a
/// plan makes (digest, target tables, the batches that must be complete), not the models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreparedPlan {
    #[serde(flatten)]
    pub basis: PlanBasis,
    /// What the environment will point at.
    pub references: Vec<SnapshotRef>,
    /// The batches that must be recorded (built and audited) before promotion.
    pub backfill: Vec<Backfill>,
    #[serde(default)]
    pub statements: Statements,
}

impl Plan {
    fn new(
        basis: PlanBasis,
        snapshots: Vec<Snapshot>,
        dev_tables: BTreeMap<String, String>,
    ) -> Plan {
        Plan {
            basis,
            snapshots,
            dev_tables,
            backfill: Vec::new(),
            restatements: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The record `prepare` keeps, with the project's promotion statements.
    pub fn prepared(&self, statements: &Statements) -> PreparedPlan {
        PreparedPlan {
            basis: self.basis.clone(),
            references: self.references(),
            backfill: self.backfill.clone(),
            statements: statements.clone(),
        }
    }
}

/// How each model's declared grants differ from the base environment's.
fn grant_changes(
    base_refs: &HashMap<String, &SnapshotRef>,
    snapshots: &[Snapshot],
) -> Vec<GrantChange> {
    let none = Default::default();
    snapshots
        .iter()
        .filter_map(|s| {
            let old = base_refs
                .get(&model_key(&s.model.name))
                .map_or(&none, |r| &r.grants);
            GrantChange::between(&s.model.name, old, &s.model.grants)
        })
        .collect()
}

/// Whether `environment` is production, whose views carry no suffix.
pub fn is_prod(environment: &str) -> bool {
    environment == "prod"
}

/// What the planner is given from state.
pub struct PlanInputs<'a> {
    pub dag: &'a Dag,
    pub audits: &'a BTreeMap<String, CustomAudit>,
    /// The environment itself if it exists, else `prod` (new environments start from it).
    pub base: Option<&'a EnvironmentRecord>,
    /// The snapshots `base` points at.
    pub base_snapshots: &'a [Snapshot],
    /// Processed intervals per (model name, table version).
    pub intervals: &'a HashMap<(String, String), Vec<Interval>>,
    /// Tables (model name, table version) prod points at: a non-prod plan never restates them.
    pub prod_tables: &'a HashSet<(String, String)>,
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
    #[error("plan end {end} must be after the plan start {start}")]
    EmptyRange { start: String, end: String },
    #[error("plan end {end} cannot be in the future (execution time: {now})")]
    EndInFuture { end: String, now: String },
    #[error(
        "--start and --end cannot be set for a plan of prod without --restate: prod must have \
         no gaps (plan a development environment for a partial backfill)"
    )]
    RangeInProd,
    #[error(
        "model {removed} is removed by this plan but {reader} still reads it ({path}); remove \
         or change {reader} first"
    )]
    RemovedInUse {
        removed: String,
        reader: String,
        path: String,
    },
}

const DAY_MS: i64 = 86_400_000;

/// Per-cron facts, computed once per distinct cron (parsing and tick search are not free).
struct CronFacts {
    unit: IntervalUnit,
    complete_until: i64,
}

/// Builds the plan for `options.environment`.
pub fn build(inputs: &PlanInputs, options: &PlanOptions) -> Result<Plan, PlanError> {
    check_range(options)?;
    let dag = inputs.dag;
    let fingerprints =
        tracing::debug_span!("fingerprint").in_scope(|| fingerprint_all(dag, inputs.audits));
    let base_refs: HashMap<String, &SnapshotRef> = inputs
        .base
        .iter()
        .flat_map(|b| &b.snapshots)
        .map(|r| (model_key(&r.name), r))
        .collect();
    let base: HashMap<String, (&Snapshot, &SnapshotRef)> = inputs
        .base_snapshots
        .iter()
        .filter_map(|s| {
            let key = model_key(&s.model.name);
            base_refs.get(&key).map(|r| (key, (s, *r)))
        })
        .collect();
    check_removed_models(dag, inputs.base_snapshots)?;

    let mut versioner = Versioner::new(
        options,
        inputs.audits,
        options.execution_time / 1000,
        dag.nodes.len(),
    );
    let decide = tracing::debug_span!("categorize").entered();
    let mut snapshots = Vec::with_capacity(dag.nodes.len());
    let mut dev_tables = BTreeMap::new();
    let mut changes = Vec::new();
    for node in &dag.nodes {
        let key = model_key(&node.model.name);
        let fp = fingerprints[&key].clone();
        let decision = versioner.decide(node, fp, base.get(&key).copied())?;
        let snapshot = decision.snapshot;
        if let Some(change) = decision.change {
            changes.push(change_of(
                &snapshot,
                &decision.table_version,
                change,
                snapshot.category,
            ));
        }
        if decision.table_version != snapshot.version {
            dev_tables.insert(snapshot.model.name.clone(), decision.table_version);
        }
        snapshots.push(snapshot);
    }
    for old in inputs.base_snapshots {
        if !dag.contains(&old.model.name) {
            let version = base_refs
                .get(&model_key(&old.model.name))
                .map_or(old.version.as_str(), |r| r.version.as_str());
            changes.push(change_of(old, version, ChangeType::Removed, None));
        }
    }
    drop(decide);
    let grants = grant_changes(&base_refs, &snapshots);

    let mut plan = Plan::new(
        PlanBasis::new(
            &options.environment,
            inputs
                .base
                .filter(|b| b.name == options.environment)
                .map(|b| b.revision),
            inputs.base.and_then(|b| b.release_id.clone()),
            options.execution_time,
            changes,
        ),
        snapshots,
        dev_tables,
    );
    plan.basis.grants = grants;
    plan.warnings.extend(
        inputs
            .dag
            .refused
            .iter()
            .map(|(what, why)| format!("left out {what}: {why}")),
    );
    tracing::debug_span!("intervals").in_scope(|| plan_backfill(&mut plan, inputs, options))?;
    let _digest = tracing::debug_span!("digest").entered();
    plan.basis
        .changes
        .sort_by(|a, b| (a.change, &a.model).cmp(&(b.change, &b.model)));
    plan.basis.id = plan_id(&plan, inputs.base.map(|b| b.revision));
    plan.basis.digest = digest(&plan);
    Ok(plan)
}

/// The "plan" of a scheduled run: an environment's current snapshots, unchanged, with the
/// intervals that became complete since they were last processed (SQLMesh's `run`). No
/// changes, nothing to promote; `snapshots` are the environment's, parents first.
pub fn for_run(
    environment: &EnvironmentRecord,
    snapshots: Vec<Snapshot>,
    intervals: &HashMap<(String, String), Vec<Interval>>,
    execution_time: i64,
) -> Result<Plan, PlanError> {
    let refs: HashMap<&str, &SnapshotRef> = environment
        .snapshots
        .iter()
        .map(|r| (r.name.as_str(), r))
        .collect();
    let dev_tables = snapshots
        .iter()
        .filter_map(|s| {
            let r = refs.get(s.model.name.as_str())?;
            (r.version != s.version).then(|| (s.model.name.clone(), r.version.clone()))
        })
        .collect();
    let options = PlanOptions {
        environment: environment.name.clone(),
        execution_time,
        ..Default::default()
    };
    let mut plan = Plan::new(
        PlanBasis::new(
            &environment.name,
            Some(environment.revision),
            environment.release_id.clone(),
            execution_time,
            Vec::new(),
        ),
        snapshots,
        dev_tables,
    );
    let empty = Dag::default();
    let inputs = PlanInputs {
        dag: &empty,
        audits: &BTreeMap::new(),
        base: Some(environment),
        base_snapshots: &[],
        intervals,
        prod_tables: &HashSet::new(),
    };
    plan_backfill(&mut plan, &inputs, &options)?;
    plan.basis.id = format!("run-{}", plan_id(&plan, Some(environment.revision)));
    plan.basis.digest = digest(&plan);
    Ok(plan)
}

/// SQLMesh's rules for a plan's range: an end in the past and after the start, and no partial
/// range for prod unless restating (prod must have no gaps).
fn check_range(options: &PlanOptions) -> Result<(), PlanError> {
    let show = |ms: i64| crate::intervals::format_boundary(ms);
    if (options.start.is_some() || options.end.is_some())
        && is_prod(&options.environment)
        && options.restate.is_empty()
    {
        return Err(PlanError::RangeInProd);
    }
    if let (Some(start), Some(end)) = (options.start, options.end)
        && start >= end
    {
        return Err(PlanError::EmptyRange {
            start: show(start),
            end: show(end),
        });
    }
    if let Some(end) = options.end {
        // A date end arrives as the start of the next day (it includes the whole day).
        let given = if IntervalUnit::Day.floor(end) == end {
            end - DAY_MS
        } else {
            end
        };
        if given > options.execution_time {
            return Err(PlanError::EndInFuture {
                end: show(given),
                now: show(options.execution_time),
            });
        }
    }
    Ok(())
}

/// A model the plan removes must not still be read by one it keeps.
fn check_removed_models(dag: &Dag, base_snapshots: &[Snapshot]) -> Result<(), PlanError> {
    let removed: HashSet<String> = base_snapshots
        .iter()
        .filter(|s| !dag.contains(&s.model.name) && !matches!(s.model.kind, ModelKind::External))
        .map(|s| model_key(&s.model.name))
        .collect();
    if removed.is_empty() {
        return Ok(());
    }
    for node in &dag.nodes {
        if let Some(table) = node.sources.iter().find(|t| removed.contains(*t)) {
            let removed = base_snapshots
                .iter()
                .find(|s| model_key(&s.model.name) == *table)
                .map_or(table.clone(), |s| s.model.name.clone());
            return Err(PlanError::RemovedInUse {
                removed,
                reader: node.model.name.clone(),
                path: node.model.path.display().to_string(),
            });
        }
    }
    Ok(())
}

/// Fills in the plan's backfill batches and restatements, and the changes' backfill ranges.
fn plan_backfill(
    plan: &mut Plan,
    inputs: &PlanInputs,
    options: &PlanOptions,
) -> Result<(), PlanError> {
    let restated = restated_models(inputs.dag, &options.restate)?;
    let mut cron_cache: HashMap<String, CronFacts> = HashMap::new();
    let prod = is_prod(&options.environment);
    let changed: HashSet<&str> = plan
        .basis
        .changes
        .iter()
        .filter(|c| c.change != ChangeType::Removed)
        .map(|c| c.model.as_str())
        .collect();
    let mut backfill = Vec::new();
    // Each model's start as SQLMesh infers it, parents before children.
    let mut starts: HashMap<String, i64> = HashMap::new();
    for snapshot in &plan.snapshots {
        let model = &snapshot.model;
        if model.kind.is_symbolic() {
            continue;
        }
        let table_version = plan.table_version(snapshot).to_string();
        let is_dev_table = table_version != snapshot.version;
        let stored_key = (model.name.clone(), table_version.clone());
        let mut done = inputs
            .intervals
            .get(&stored_key)
            .cloned()
            .unwrap_or_default();
        let facts = cron_facts(&mut cron_cache, snapshot, options.execution_time)?;
        let start = inferred_start(snapshot, options, facts, &starts)?;
        starts.insert(model_key(&model.name), start);
        let Some(range) = model_range(snapshot, options, facts, start, is_dev_table)? else {
            // Nothing to compute yet (the model starts later), but a changed model's new
            // table must exist before a view can point at it.
            if changed.contains(model.name.as_str()) && done.is_empty() {
                backfill.push(Backfill {
                    snapshot: snapshot.id(),
                    model: model.name.clone(),
                    version: table_version,
                    batches: Vec::new(),
                });
            }
            continue;
        };
        if restated.contains(&model_key(&model.name))
            && !matches!(model.kind, ModelKind::Seed { .. })
        {
            if !prod && inputs.prod_tables.contains(&stored_key) {
                plan.warnings.push(format!(
                    "not restating {} in {}: its table is the one prod serves; restate it in \
                     prod instead",
                    model.name, options.environment
                ));
            } else {
                plan.restatements
                    .push((model.name.clone(), table_version.clone(), range));
                done = intervals::subtract(&intervals::merge(done), range);
            }
        }
        let batches = batches_for(snapshot, &done, range, facts.unit);
        // A changed model also needs its unit when its table is new, or reused by a
        // forward-only change whose new columns must be added to it.
        let table_work = changed.contains(model.name.as_str())
            && (done.is_empty() || snapshot.category == Some(Category::ForwardOnly));
        if !batches.is_empty() || table_work {
            backfill.push(Backfill {
                snapshot: snapshot.id(),
                model: model.name.clone(),
                version: table_version,
                batches,
            });
        }
    }
    plan.backfill = backfill;
    let by_model: HashMap<&str, &Backfill> = plan
        .backfill
        .iter()
        .map(|b| (b.model.as_str(), b))
        .collect();
    for change in &mut plan.basis.changes {
        if let Some(b) = by_model.get(change.model.as_str()) {
            change.backfill = b.batches.clone();
        }
    }
    Ok(())
}

/// An identifier for this exact plan, backfill included: 64 bits, so two plans never share one
/// by chance.
fn plan_id(plan: &Plan, base_revision: Option<i64>) -> String {
    let mut identity: Vec<String> =
        vec![plan.basis.environment.clone(), format!("{base_revision:?}")];
    identity.extend(plan.snapshots.iter().map(|s| {
        format!(
            "{}:{}:{}",
            s.model.name,
            s.fingerprint.id(),
            plan.table_version(s)
        )
    }));
    identity.extend(
        plan.backfill
            .iter()
            .map(|b| format!("{}:{:?}", b.model, b.batches)),
    );
    let mut h = Sha256::new();
    for part in &identity {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

/// The plan digest: what promoting it would change, independent of backfill progress.
/// Products are part of it (owners and promises decide who must approve), when there are any.
pub fn digest(plan: &Plan) -> String {
    let mut h = Sha256::new();
    let mut part = |s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    part("sluice-plan-digest-v1");
    part(&plan.basis.environment);
    part(plan.basis.base_release.as_deref().unwrap_or("-"));
    let mut refs = plan.references();
    refs.sort();
    for r in &refs {
        part(&format!("{}:{}:{}", r.name, r.fingerprint, r.version));
    }
    for c in &plan.basis.changes {
        let category = c.category.map_or("-", |c| c.as_str());
        part(&format!("{}:{:?}:{category}", c.model, c.change));
    }
    for (model, version, interval) in &plan.restatements {
        part(&format!("restate:{model}:{version}:{interval:?}"));
    }
    if !plan.basis.products.is_empty() {
        part(&serde_json::to_string(&plan.basis.products).unwrap_or_default());
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// Re-parses a stored snapshot's query so its old version can be compared structurally.
pub(crate) fn node_of(snapshot: &Snapshot) -> Result<Node, PlanError> {
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
        audit_reads: Vec::new(),
    })
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

/// Where a model's data starts, as SQLMesh infers it: its `start` (or `model_defaults.start`);
/// without one, the earliest start of its parents; for a model without parents, the start of
/// its last complete interval (yesterday for a daily model).
fn inferred_start(
    snapshot: &Snapshot,
    options: &PlanOptions,
    facts: &CronFacts,
    starts: &HashMap<String, i64>,
) -> Result<i64, PlanError> {
    if let Some(start) = &snapshot.model.start {
        return intervals::parse_time(start, options.execution_time)
            .map(|t| t.0)
            .map_err(|e| model_error(snapshot, e));
    }
    let from_parents = snapshot
        .parents
        .iter()
        .filter_map(|p| starts.get(&model_key(p)))
        .min();
    Ok(match from_parents {
        Some(start) => *start,
        None => facts.unit.floor(facts.complete_until - 1),
    })
}

/// The `[start, end)` a snapshot should cover, or `None` when the range is empty.
/// `preview`: the snapshot writes to a dev table, which previews a limited range (SQLMesh:
/// from yesterday, unless `--start` says otherwise).
fn model_range(
    snapshot: &Snapshot,
    options: &PlanOptions,
    facts: &CronFacts,
    model_start: i64,
    preview: bool,
) -> Result<Option<Interval>, PlanError> {
    let model = &snapshot.model;
    let now = options.execution_time;
    let default_start = if preview {
        IntervalUnit::Day.floor(now) - DAY_MS
    } else {
        model_start
    };
    let start = options.start.unwrap_or(default_start).max(model_start);
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
        // A seed is loaded once, and a view created once: later plans and runs never redo an
        // unchanged one (a view reads its parents live).
        ModelKind::Seed { .. } | ModelKind::View if !merged.is_empty() => Vec::new(),
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
