//! What gets promoted: a prepared plan once every batch it needs is built ([`promote_plan`]),
//! or an earlier release's tables again ([`rollback`]).

use sluice_engine::intervals::Interval;
use sluice_engine::plan::PreparedPlan;
use sluice_engine::snapshot::{AuditResult, Release, ReleaseKind};

use super::evidence::{plan_evidence, rollback_evidence};
use super::{PromoteError, PromoteMeta, Promotion, promote};
use crate::state::{StateStore, Tables};
use crate::warehouse::Warehouse;

/// Re-points an environment at an earlier release's tables: no backfill, one transaction.
/// `to` defaults to the release the current one was made from (its base), so successive
/// rollbacks step back one release each. Refuses when a table is gone.
pub fn rollback(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    to: Option<&str>,
    meta: PromoteMeta,
) -> Result<Release, PromoteError> {
    let mut state = StateStore::new(warehouse);
    let env = state.environment(environment)?.ok_or_else(|| {
        PromoteError::Refused(format!("environment {environment:?} does not exist"))
    })?;
    let target_id = match to {
        Some(id) => id.to_string(),
        None => {
            let current = match &env.release_id {
                Some(id) => state.release(id)?,
                None => None,
            };
            current.and_then(|r| r.base_release).ok_or_else(|| {
                PromoteError::Refused(format!(
                    "environment {environment:?} has no release before {}",
                    env.release_id.as_deref().unwrap_or("its first")
                ))
            })?
        }
    };
    let target = state
        .release(&target_id)?
        .filter(|r| r.environment == environment)
        .ok_or_else(|| {
            PromoteError::Refused(format!(
                "release {target_id:?} is not a release of environment {environment:?} (see `sluice releases {environment}`)"
            ))
        })?;
    let ttl = env.expires_at.map(|at| at - env.updated_at);
    let evidence = rollback_evidence(&mut state, &target, &meta)?;
    promote(
        warehouse,
        Promotion {
            environment: environment.to_string(),
            plan_id: target.plan_id.clone(),
            digest: target.digest.clone(),
            snapshots: target.snapshots.clone(),
            expected_revision: Some(env.revision),
            kind: ReleaseKind::Rollback,
            restored_release: Some(target.id.clone()),
            rollback_base: target.base_release.clone(),
            audits: target.audits.clone(),
            statements: target.statements.clone(),
            meta: PromoteMeta {
                ttl: meta.ttl.or(ttl),
                ..meta
            },
            evidence,
        },
    )
    .map_err(|e| match e {
        PromoteError::MissingTables { tables, .. } => PromoteError::Refused(format!(
            "cannot roll back {environment:?} to {}: its tables are gone (dropped by the \
             janitor?): {}; re-apply a plan to rebuild them instead",
            target.id,
            tables.join(", ")
        )),
        other => other,
    })
}

/// Whether a prepared plan can be promoted: every batch it needs is recorded (built, and its
/// blocking audits passed). Returns the plan and the audit results of its batches (the
/// evidence), or [`PromoteError::Incomplete`] naming what is missing.
pub fn check_plan(
    warehouse: &mut dyn Warehouse,
    plan_id: &str,
) -> Result<(PreparedPlan, Vec<AuditResult>), PromoteError> {
    let mut state = StateStore::new(warehouse);
    let plan = state
        .prepared_plan(plan_id)?
        .ok_or_else(|| PromoteError::UnknownPlan(plan_id.to_string()))?;
    // Two queries for the whole plan, not two per model.
    let tables: Tables = plan
        .backfill
        .iter()
        .map(|b| (b.model.clone(), b.version.clone()))
        .collect();
    let recorded = state.intervals_of(&tables)?;
    let evidence = state.audit_results_of(&tables)?;
    let mut missing = Vec::new();
    let mut audits = Vec::new();
    for backfill in &plan.backfill {
        let table = (backfill.model.clone(), backfill.version.clone());
        let done = recorded.get(&table).cloned().unwrap_or_default();
        let open: Vec<&Interval> = backfill
            .batches
            .iter()
            .filter(|b| !done.iter().any(|d| d.start <= b.start && b.end <= d.end))
            .collect();
        if let Some(first) = open.first() {
            missing.push(format!(
                "{} has {} of {} batch(es) to go (first: {first})",
                backfill.model,
                open.len(),
                backfill.batches.len()
            ));
        }
        audits.extend(
            evidence
                .get(&table)
                .into_iter()
                .flatten()
                .filter(|a| {
                    a.interval.is_some_and(|i| {
                        backfill
                            .batches
                            .iter()
                            .any(|b| b.start <= i.start && i.end <= b.end)
                    })
                })
                .cloned(),
        );
    }
    if !missing.is_empty() {
        return Err(PromoteError::Incomplete {
            plan: plan.basis.id.clone(),
            environment: plan.basis.environment.clone(),
            missing,
        });
    }
    Ok((plan, audits))
}

/// Promotes a prepared plan: checks it ([`check_plan`]) and that every table exists, then flips
/// the environment in one transaction, recording the audits of the plan's batches as the
/// release's evidence.
pub fn promote_plan(
    warehouse: &mut dyn Warehouse,
    plan_id: &str,
    meta: PromoteMeta,
) -> Result<Release, PromoteError> {
    let (plan, audits) = check_plan(warehouse, plan_id)?;
    let evidence = plan_evidence(warehouse, &plan, &audits, &meta)?;
    promote(
        warehouse,
        Promotion {
            environment: plan.basis.environment.clone(),
            plan_id: plan.basis.id.clone(),
            digest: Some(plan.basis.digest.clone()),
            snapshots: plan.references.clone(),
            expected_revision: plan.basis.base_revision,
            kind: ReleaseKind::Promotion,
            restored_release: None,
            rollback_base: None,
            audits,
            statements: plan.statements.clone(),
            meta,
            evidence,
        },
    )
}
