//! The gates a promotion of a plan passes through that concern data products:
//!
//! - checks made from what the warehouse says (gathered by the warehouse side's
//!   `promote::checks`): every affected product's models are fresh at promotion time
//!   (`freshness`), its quality audits passed (`quality`), and the rollback target's tables
//!   still exist (`rollback-readiness`);
//! - approvals only people can give: an owner of a product whose meaning changes
//!   (`owner-approval/<product>`), and the approvers of a classification a change touches
//!   (`policy/<classification>`). The operator decides those from verified approvals; the
//!   command line cannot verify anyone, so it reports them as not enforced.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{PromiseCheck, PromiseState, RollbackEvidence};
use crate::plan::Impact;
use crate::products::freshness::ModelFreshness;
use crate::products::{Owners, Product};
use crate::snapshot::AuditResult;

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

/// The freshness gate of promoting: every affected product fresh enough.
pub fn freshness_gate(affected: &[&Product], freshness: &[ModelFreshness]) -> GateResult {
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
            format!("{} on {}{at}: {}", a.audit, a.model, a.finding())
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

/// The quality gate: every promised audit of the affected products passed.
pub fn quality_gate(affected: &[&Product], audits: &[AuditResult]) -> GateResult {
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

/// The rollback-readiness gate: the release a rollback returns to still has its tables.
pub fn rollback_gate(rollback: &RollbackEvidence) -> GateResult {
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
