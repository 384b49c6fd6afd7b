//! The product checks made before flipping a prepared plan, from what the warehouse says:
//! freshness of every product's models, quality audits, and whether the release a rollback
//! would return to still has its tables. The gates themselves are the engine's
//! (`sluice_engine::evidence::gates`).

use sluice_engine::evidence::RollbackEvidence;
use sluice_engine::evidence::gates::{
    GateResult, GateState, freshness_gate, quality_gate, rollback_gate,
};
use sluice_engine::graph::model_key;
use sluice_engine::plan::PreparedPlan;
use sluice_engine::products::Product;
use sluice_engine::products::freshness::{FreshnessInputs, ModelFreshness};
use sluice_engine::snapshot::{AuditResult, SnapshotRef};

use crate::state::{StateError, StateStore};
use crate::warehouse::Warehouse;

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
        freshness: products_freshness(warehouse, &plan.basis.products, &plan.references, at_ms)?,
        ..Default::default()
    };
    if plan.basis.products.is_empty() {
        return Ok(checks);
    }
    let affected: Vec<&Product> = plan
        .basis
        .products
        .iter()
        .filter(|p| {
            plan.basis
                .impact
                .products
                .iter()
                .any(|i| i.product == p.name)
        })
        .collect();
    checks
        .gates
        .push(freshness_gate(&affected, &checks.freshness));
    checks.gates.push(quality_gate(&affected, audits));
    checks.rollback = rollback_readiness(warehouse, &plan.basis.products, current, at_ms)?;
    checks.gates.push(rollback_gate(&checks.rollback));
    Ok(checks)
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
    let existing = crate::warehouse::existing_physical_tables(warehouse)?;
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
