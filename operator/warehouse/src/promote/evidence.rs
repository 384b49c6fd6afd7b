//! What a release records beyond itself: the product checks of promoting a plan (refused when
//! one fails), the evidence document, the `sluice.current_release` row and a comment on every
//! view naming the release, all written in the flip's transaction.

use sluice_engine::evidence::{
    BackfillSummary, EvidenceInput, FlipConsistency, GateResult, assemble,
};
use sluice_engine::plan::{ChangeType, PreparedPlan};
use sluice_engine::snapshot::{AuditResult, Release, ReleaseKind, quote_literal};

use super::checks::{EngineChecks, engine_checks};
use super::{PromoteError, PromoteMeta};
use crate::state::{LiveRelease, StateStore};
use crate::warehouse::Warehouse;

/// Stores the release's evidence and points `sluice.current_release` at it: in the flip's
/// transaction, so a reader of the view never sees a release the views do not show.
pub(super) fn record_evidence(
    state: &mut StateStore,
    release: &Release,
    input: &EvidenceInput,
    consistency: FlipConsistency,
) -> Result<(), PromoteError> {
    let mut evidence = assemble(release, input);
    evidence.consistency = Some(consistency);
    let json = crate::state::encode("evidence", &release.id, &evidence)?;
    state.insert_evidence(&release.id, &release.environment, &json)?;
    state.set_live_release(&LiveRelease {
        environment: release.environment.clone(),
        release_id: release.id.clone(),
        kind: match release.kind {
            ReleaseKind::Promotion => "promotion".into(),
            ReleaseKind::Rollback => "rollback".into(),
        },
        promoted_at: release.created_at,
        promoted_by: release.created_by.clone(),
        plan_id: release.plan_id.clone(),
        plan_digest: release.digest.clone(),
        source_revision: input.source.as_ref().and_then(|s| s.revision.clone()),
        source_digest: input.source.as_ref().map(|s| s.digest.clone()),
    })?;
    Ok(())
}

/// What every view of a release says about it, as a SQL literal.
pub(super) fn release_comment(environment: &str, release: &str, plan: &str) -> String {
    quote_literal(&format!(
        "sluice release {release} of environment {environment} (plan {plan}); see \
         sluice.current_release"
    ))
}

/// `COMMENT ON VIEW` for `views` (quoted names): a consumer reading one learns the release
/// behind it (`sluice.current_release` has the rest).
pub(super) fn comment_statements(
    warehouse: &dyn Warehouse,
    views: &[String],
    comment: &str,
) -> Vec<String> {
    // Spark has no comments on views; the release is in Sluice's state either way.
    if warehouse.dialect() == sluice_engine::model::Dialect::Spark {
        return Vec::new();
    }
    views
        .iter()
        .map(|view| format!("COMMENT ON VIEW {view} IS {comment}"))
        .collect()
}

/// A rollback's evidence: the restored release's products, their freshness after the rollback.
pub(super) fn rollback_evidence(
    state: &mut StateStore,
    target: &Release,
    meta: &PromoteMeta,
) -> Result<EvidenceInput, PromoteError> {
    let restored = match state.evidence(&target.id)? {
        Some(json) => sluice_engine::evidence::decode(&json).ok(),
        None => None,
    };
    let products: Vec<_> = restored
        .iter()
        .flat_map(|e| e.products.iter().map(|p| p.product()))
        .collect();
    let freshness = super::checks::products_freshness(
        state.warehouse(),
        &products,
        &target.snapshots,
        meta.at_ms(),
    )?;
    let mut gates = meta.gates.clone();
    gates.push(GateResult::new(
        "rollback-target",
        sluice_engine::evidence::GateState::Passed,
        format!("re-point at the tables of {}", target.id),
    ));
    Ok(EvidenceInput {
        products,
        source: restored.and_then(|e| e.source),
        gates,
        freshness,
        ..Default::default()
    })
}

/// Audit results per changed table that a release's evidence keeps.
const AUDITS_PER_TABLE: usize = 100;

/// The product checks of promoting `plan` at `at_ms` (freshness, quality, rollback
/// readiness), with the audit results they were judged on: the plan's own batches' and, at most
/// `AUDITS_PER_TABLE` per table, those of its changed tables (a table a dev environment built
/// was audited there).
pub fn product_checks(
    warehouse: &mut dyn Warehouse,
    plan: &PreparedPlan,
    audits: &[AuditResult],
    at_ms: i64,
) -> Result<(EngineChecks, Vec<AuditResult>), PromoteError> {
    let mut state = StateStore::new(warehouse);
    let current = state.environment(&plan.basis.environment)?;
    let current_release = current.as_ref().and_then(|e| e.release_id.clone());
    let current_refs = current.map(|e| e.snapshots).unwrap_or_default();
    let rollback_target = current_release
        .as_deref()
        .map(|r| (r, current_refs.as_slice()));
    let mut all_audits = Vec::new();
    for change in plan
        .basis
        .changes
        .iter()
        .filter(|c| c.change != ChangeType::Removed)
    {
        let results = state.audit_results(&change.model, &change.version)?;
        all_audits.extend(results.into_iter().rev().take(AUDITS_PER_TABLE));
    }
    for audit in audits {
        if !all_audits.contains(audit) {
            all_audits.push(audit.clone());
        }
    }
    let checks = engine_checks(warehouse, plan, &all_audits, rollback_target, at_ms)?;
    Ok((checks, all_audits))
}

/// The product checks of promoting `plan` (refused when one fails) and the evidence input.
pub(super) fn plan_evidence(
    warehouse: &mut dyn Warehouse,
    plan: &PreparedPlan,
    audits: &[AuditResult],
    meta: &PromoteMeta,
) -> Result<EvidenceInput, PromoteError> {
    let (checks, all_audits) = product_checks(warehouse, plan, audits, meta.at_ms())?;
    let failed: Vec<GateResult> = checks.failed().into_iter().cloned().collect();
    if !failed.is_empty() {
        return Err(PromoteError::Gates {
            environment: plan.basis.environment.clone(),
            gates: failed,
        });
    }
    let mut backfill = BackfillSummary::default();
    let (mut rows, mut millis, mut counted) = (0u64, 0i64, true);
    let mut state = StateStore::new(warehouse);
    for b in plan.backfill.iter().filter(|b| !b.batches.is_empty()) {
        backfill.models += 1;
        backfill.intervals += b.batches.len() as u32;
        let (r, ms) = state.batch_totals(&b.model, &b.version, &b.batches)?;
        millis += ms;
        match r {
            Some(r) => rows += r,
            None => counted = false,
        }
    }
    if backfill.models > 0 {
        backfill.rows = counted.then_some(rows);
        backfill.seconds = Some(millis as f64 / 1000.0);
    }
    let mut gates = meta.gates.clone();
    gates.extend(checks.gates);
    Ok(EvidenceInput {
        audits: all_audits,
        changes: plan.basis.changes.clone(),
        products: plan.basis.products.clone(),
        impact: plan.basis.impact.clone(),
        source: plan.basis.source.clone(),
        backfill,
        gates,
        freshness: checks.freshness,
        rollback: checks.rollback,
        consistency: None,
    })
}
