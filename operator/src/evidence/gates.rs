//! The gates a promotion of a plan passes through that concern data products:
//!
//! - checks the engine makes from the warehouse: every affected product's models are fresh at
//!   promotion time (`freshness`), its quality audits passed (`quality`), and the rollback
//!   target's tables still exist (`rollback-readiness`);
//! - approvals only people can give: an owner of a product whose meaning changes
//!   (`owner-approval/<product>`), and the approvers of a classification a change touches
//!   (`policy/<classification>`). The operator decides those from verified approvals; the
//!   command line cannot verify anyone, so it reports them as not enforced.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{PromiseCheck, PromiseState, RollbackEvidence};
use crate::graph::model_key;
use crate::plan::PreparedPlan;
use crate::products::freshness::{FreshnessInputs, ModelFreshness};
use crate::products::{Impact, Owners, Product};
use crate::snapshot::{AuditResult, SnapshotRef};
use crate::state::{StateError, StateStore};
use crate::warehouse::Warehouse;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GateState {
    Passed,
    Pending,
    Failed,
    /// Not enforced where the promotion ran (approvals under `sluice apply`).
    Skipped,
}

/// One gate and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateResult {
    pub name: String,
    pub state: GateState,
    pub message: String,
}

impl GateResult {
    pub fn new(name: impl Into<String>, state: GateState, message: impl Into<String>) -> Self {
        GateResult {
            name: name.into(),
            state,
            message: message.into(),
        }
    }
}

/// An approval a product change needs from particular people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequirement {
    /// `owner-approval/<product>` or `policy/<classification>`.
    pub gate: String,
    pub approvers: Owners,
    /// Why: the meaning change, or the classified models touched.
    pub reason: String,
}

/// The approvals `impact` needs: an owner of each product whose meaning changes, and the
/// approvers of each classification in `policy` that the change touches.
pub fn approval_requirements(
    impact: &Impact,
    policy: &BTreeMap<String, Owners>,
) -> Vec<ApprovalRequirement> {
    let mut out: Vec<ApprovalRequirement> = impact
        .meaning_changes()
        .map(|p| ApprovalRequirement {
            gate: format!("owner-approval/{}", p.product),
            approvers: p.owners.clone(),
            reason: format!(
                "meaning change to product {}: {}",
                p.product,
                p.reasons.join("; ")
            ),
        })
        .collect();
    for (classification, approvers) in policy {
        if let Some(models) = impact.classifications.get(&classification.to_lowercase()) {
            out.push(ApprovalRequirement {
                gate: format!("policy/{classification}"),
                approvers: approvers.clone(),
                reason: format!("changes {classification} models: {}", models.join(", ")),
            });
        }
    }
    out
}

/// Under `sluice apply`: what the operator would require, recorded as not enforced.
pub fn local_approval_gates(impact: &Impact, products: &[Product]) -> Vec<GateResult> {
    // Locally there is no Environment policy; the classifications products declare stand in
    // for it, so the evidence still says which approvers a release would need.
    let declared: BTreeMap<String, Owners> = products
        .iter()
        .flat_map(|p| p.classification.iter())
        .map(|c| (c.to_lowercase(), Owners::default()))
        .collect();
    approval_requirements(impact, &declared)
        .into_iter()
        .map(|r| {
            let who = if r.approvers.is_empty() {
                "its Environment's approvers for it".to_string()
            } else {
                r.approvers.describe()
            };
            GateResult::new(
                r.gate,
                GateState::Skipped,
                format!(
                    "{}; under the operator this waits for an approval from {who}; `sluice \
                     apply` cannot verify who approves, so it records none",
                    r.reason
                ),
            )
        })
        .collect()
}

/// Freshness inputs of a snapshot set: kinds, parents and newest recorded intervals.
pub fn freshness_inputs(
    warehouse: &mut dyn Warehouse,
    refs: &[SnapshotRef],
) -> Result<FreshnessInputs, StateError> {
    let mut state = StateStore::new(warehouse);
    let ids: Vec<_> = refs.iter().map(SnapshotRef::id).collect();
    let snapshots = state.load_snapshots(&ids)?;
    let mut inputs = FreshnessInputs::default();
    for s in &snapshots {
        inputs
            .parents
            .insert(model_key(&s.model.name), s.parents.clone());
    }
    for r in refs {
        let key = model_key(&r.name);
        inputs.kinds.insert(key.clone(), r.kind.clone());
        if matches!(r.kind.as_str(), "VIEW" | "EMBEDDED" | "SEED" | "EXTERNAL") {
            continue;
        }
        if let Some(last) = state.intervals(&r.name, &r.version)?.last() {
            inputs.newest.insert(key, last.end);
        }
    }
    Ok(inputs)
}

/// Freshness of every product's models in `refs` at `at_ms`.
pub fn products_freshness(
    warehouse: &mut dyn Warehouse,
    products: &[Product],
    refs: &[SnapshotRef],
    at_ms: i64,
) -> Result<Vec<ModelFreshness>, StateError> {
    if products
        .iter()
        .all(|p| p.promises.freshness_seconds.is_none())
    {
        return Ok(Vec::new());
    }
    let inputs = freshness_inputs(warehouse, refs)?;
    Ok(products
        .iter()
        .flat_map(|p| inputs.check(p, at_ms))
        .collect())
}

/// The checks the engine makes before flipping a prepared plan.
#[derive(Debug, Clone, Default)]
pub struct EngineChecks {
    pub gates: Vec<GateResult>,
    pub freshness: Vec<ModelFreshness>,
    pub rollback: RollbackEvidence,
}

impl EngineChecks {
    pub fn failed(&self) -> Vec<&GateResult> {
        self.gates
            .iter()
            .filter(|g| g.state == GateState::Failed)
            .collect()
    }
}

/// Evaluates freshness, quality and rollback readiness for promoting `plan` at `at_ms`.
/// `audits`: the audit results of the plan's batches; `current`: the release the environment
/// is at now and its snapshots (the rollback target).
pub fn engine_checks(
    warehouse: &mut dyn Warehouse,
    plan: &PreparedPlan,
    audits: &[AuditResult],
    current: Option<(&str, &[SnapshotRef])>,
    at_ms: i64,
) -> Result<EngineChecks, StateError> {
    let mut checks = EngineChecks {
        freshness: products_freshness(warehouse, &plan.products, &plan.references, at_ms)?,
        ..Default::default()
    };
    if plan.products.is_empty() {
        return Ok(checks);
    }
    let affected: Vec<&Product> = plan
        .products
        .iter()
        .filter(|p| plan.impact.products.iter().any(|i| i.product == p.name))
        .collect();
    checks
        .gates
        .push(freshness_gate(&affected, &checks.freshness));
    checks.gates.push(quality_gate(&affected, audits));
    checks.rollback = rollback_readiness(warehouse, &plan.products, current, at_ms)?;
    checks.gates.push(rollback_gate(&checks.rollback));
    Ok(checks)
}

fn freshness_gate(affected: &[&Product], freshness: &[ModelFreshness]) -> GateResult {
    let relevant: Vec<&ModelFreshness> = freshness
        .iter()
        .filter(|f| affected.iter().any(|p| p.name == f.product))
        .collect();
    let stale: Vec<String> = relevant
        .iter()
        .filter(|f| !f.ok)
        .map(|f| format!("product {}: {}", f.product, f.describe()))
        .collect();
    if !stale.is_empty() {
        return GateResult::new(
            "freshness",
            GateState::Failed,
            format!(
                "promoting now would leave a product stale: {}; wait for the backfill (or a \
                 run) to catch up, then promote",
                stale.join("; ")
            ),
        );
    }
    let kept: Vec<String> = relevant
        .iter()
        .filter(|f| f.lag_seconds.is_some())
        .map(|f| format!("product {}: {}", f.product, f.describe()))
        .collect();
    GateResult::new(
        "freshness",
        GateState::Passed,
        if kept.is_empty() {
            "no affected product promises freshness".to_string()
        } else {
            kept.join("; ")
        },
    )
}

/// A product's quality promise against the audit results: every promised audit that ran on
/// one of its models found nothing.
pub fn quality_check(product: &Product, audits: &[AuditResult]) -> PromiseCheck {
    if product.promises.quality.is_empty() {
        return PromiseCheck {
            promise: "quality".into(),
            state: PromiseState::None,
            detail: "no quality promise".into(),
        };
    }
    let promised =
        |a: &AuditResult| {
            product.exposes(&a.model)
                && product.promises.quality.iter().any(|q| {
                    a.audit == *q || a.audit.strip_suffix("_non_blocking") == Some(q.as_str())
                })
        };
    let ran: Vec<&AuditResult> = audits.iter().filter(|a| promised(a)).collect();
    let failed: Vec<String> = ran
        .iter()
        .filter(|a| !a.passed())
        .map(|a| {
            let at = a.interval.map(|i| format!(" for {i}")).unwrap_or_default();
            format!("{} on {}{at}: {} row(s)", a.audit, a.model, a.violations)
        })
        .collect();
    if failed.is_empty() {
        PromiseCheck {
            promise: "quality".into(),
            state: PromiseState::Kept,
            detail: format!(
                "{} ({} run(s) on its changed tables, all passed)",
                product.promises.quality.join(", "),
                ran.len()
            ),
        }
    } else {
        PromiseCheck {
            promise: "quality".into(),
            state: PromiseState::Broken,
            detail: failed.join("; "),
        }
    }
}

fn quality_gate(affected: &[&Product], audits: &[AuditResult]) -> GateResult {
    let broken: Vec<String> = affected
        .iter()
        .map(|p| (p, quality_check(p, audits)))
        .filter(|(_, c)| c.state == PromiseState::Broken)
        .map(|(p, c)| format!("product {}: {}", p.name, c.detail))
        .collect();
    if broken.is_empty() {
        GateResult::new(
            "quality",
            GateState::Passed,
            "every promised audit of the affected products passed",
        )
    } else {
        GateResult::new("quality", GateState::Failed, broken.join("; "))
    }
}

fn rollback_readiness(
    warehouse: &mut dyn Warehouse,
    products: &[Product],
    current: Option<(&str, &[SnapshotRef])>,
    at_ms: i64,
) -> Result<RollbackEvidence, StateError> {
    let Some((release, refs)) = current else {
        return Ok(RollbackEvidence {
            target: None,
            ready: true,
            ..Default::default()
        });
    };
    let existing = crate::promote::existing_physical_tables(warehouse)?;
    let missing: Vec<String> = refs
        .iter()
        .filter(|r| !r.is_symbolic() && !existing.contains(&r.table()))
        .map(|r| format!("{} ({})", r.name, r.table()))
        .collect();
    Ok(RollbackEvidence {
        target: Some(release.to_string()),
        ready: missing.is_empty(),
        missing_tables: missing,
        freshness: products_freshness(warehouse, products, refs, at_ms)?,
    })
}

fn rollback_gate(rollback: &RollbackEvidence) -> GateResult {
    match (&rollback.target, rollback.ready) {
        (None, _) => GateResult::new(
            "rollback-readiness",
            GateState::Passed,
            "first release of the environment: there is no earlier release to return to",
        ),
        (Some(target), true) => {
            let stale: HashMap<&str, &ModelFreshness> = rollback
                .freshness
                .iter()
                .filter(|f| !f.ok)
                .map(|f| (f.model.as_str(), f))
                .collect();
            let note = if stale.is_empty() {
                "products keep their freshness promises".to_string()
            } else {
                let mut list: Vec<String> = stale
                    .values()
                    .map(|f| format!("product {}: {}", f.product, f.describe()))
                    .collect();
                list.sort();
                format!("a rollback would leave {}", list.join("; "))
            };
            GateResult::new(
                "rollback-readiness",
                GateState::Passed,
                format!("a rollback returns to {target}, whose tables all exist; {note}"),
            )
        }
        (Some(target), false) => GateResult::new(
            "rollback-readiness",
            GateState::Failed,
            format!(
                "the rollback target {target} has lost tables (dropped by the janitor?): {}",
                rollback.missing_tables.join(", ")
            ),
        ),
    }
}
