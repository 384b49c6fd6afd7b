//! The release record as evidence: a versioned JSON document (`docs/evidence.schema.json`)
//! that says what changed, what was checked, who approved, what it did to each data product and
//! where a rollback would go. It is written with the release, in the flip's transaction, and
//! read by `sluice releases --json`, `sluice evidence`, the operator's evidence ConfigMap and the
//! OpenLineage event.
//!
//! `gates` evaluates the checks the engine can make itself (freshness, quality, rollback
//! readiness) and describes the approvals a product change needs from people.

pub mod gates;
mod render;

use serde::{Deserialize, Serialize};

use crate::intervals::{Interval, format_boundary};
use crate::plan::Impact;
use crate::plan::impact::{BackfillCost, ModelImpact};
use crate::plan::{Change, ChangeType, SourceInfo};
use crate::products::freshness::ModelFreshness;
use crate::products::{Consumer, Owners, Product, Promises};
use crate::snapshot::{Approval, AuditResult, Category, Release, ReleaseKind, SnapshotRef};

pub use gates::{GateResult, GateState};
pub use render::render;

/// The document's version; it changes only with an incompatible change to its shape.
pub const SCHEMA_VERSION: &str = "sluice.dev/evidence/v1";

/// One release's evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub schema_version: String,
    pub release: String,
    pub environment: String,
    pub kind: ReleaseKind,
    /// RFC 3339.
    pub promoted_at: String,
    pub promoted_by: String,
    pub before: SnapshotSet,
    pub after: SnapshotSet,
    pub source: Option<SourceInfo>,
    pub plan: PlanEvidence,
    pub changes: Vec<ChangeEvidence>,
    pub audits: Vec<AuditEvidence>,
    pub gates: Vec<GateResult>,
    pub approvals: Vec<ApprovalEvidence>,
    pub products: Vec<ProductEvidence>,
    pub backfill: BackfillSummary,
    pub rollback: RollbackEvidence,
    /// How declared grants on the environment's views changed with this release.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<crate::grants::GrantChange>,
    /// What a reader could see during the flip: `atomic` (one transaction moved every view)
    /// or `per view` (views moved one by one: Spark), with how long that window was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<FlipConsistency>,
}

/// How the release's views moved, as readers saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlipConsistency {
    /// `atomic` or `per view`.
    pub level: String,
    /// For `per view`: from the first view moved to the last (milliseconds), the time a
    /// reader could see views of both releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixed_window_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotSet {
    /// The release that made it (`None`: the environment had none).
    pub release: Option<String>,
    pub snapshots: Vec<SnapshotRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanEvidence {
    pub id: String,
    pub digest: Option<String>,
    /// For rollbacks: the release whose tables were restored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_release: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    pub start: String,
    pub end: String,
}

impl From<&Interval> for Range {
    fn from(i: &Interval) -> Range {
        Range {
            start: format_boundary(i.start),
            end: format_boundary(i.end),
        }
    }
}

/// A changed model, as in `sluice plan --json` (ranges half-open).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEvidence {
    pub model: String,
    pub change: ChangeType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    pub kind: String,
    pub version: String,
    pub table: String,
    pub backfill: Vec<Range>,
}

impl From<&Change> for ChangeEvidence {
    fn from(c: &Change) -> ChangeEvidence {
        ChangeEvidence {
            model: c.model.clone(),
            change: c.change,
            category: c.category,
            kind: c.kind.clone(),
            version: c.version.clone(),
            table: c.table.clone(),
            backfill: c.backfill.iter().map(Range::from).collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Passed,
    Failed,
    /// A non-blocking audit found rows.
    Warning,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvidence {
    pub model: String,
    pub audit: String,
    pub version: String,
    pub interval: Option<Range>,
    pub result: AuditOutcome,
    pub blocking: bool,
    pub violating_rows: u64,
    /// RFC 3339.
    pub ran_at: String,
}

impl From<&AuditResult> for AuditEvidence {
    fn from(a: &AuditResult) -> AuditEvidence {
        AuditEvidence {
            model: a.model.clone(),
            audit: a.audit.clone(),
            version: a.version.clone(),
            interval: a.interval.as_ref().map(Range::from),
            result: match (a.passed(), a.blocking) {
                (true, _) => AuditOutcome::Passed,
                (false, true) => AuditOutcome::Failed,
                (false, false) => AuditOutcome::Warning,
            },
            blocking: a.blocking,
            violating_rows: a.violations,
            ran_at: rfc3339(a.ran_at),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalEvidence {
    pub user: String,
    /// RFC 3339.
    pub at: String,
    /// The plan digest approved.
    pub digest: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A promise and whether this release keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromiseCheck {
    /// `freshness`, `schema` or `quality`.
    pub promise: String,
    pub state: PromiseState,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromiseState {
    Kept,
    Broken,
    /// The product makes no such promise.
    None,
}

/// A product as of this release: its definition, what the release did to it, its checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductEvidence {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub owners: Owners,
    pub classification: Vec<String>,
    /// The models it exposes.
    pub models: Vec<String>,
    pub consumers: Vec<Consumer>,
    pub promises: Promises,
    /// Whether this release changes any of its models.
    pub affected: bool,
    pub meaning_change: bool,
    pub reasons: Vec<String>,
    pub changes: Vec<ModelImpact>,
    pub backfill: BackfillCost,
    pub checks: Vec<PromiseCheck>,
    /// Freshness of its models in the new state, at promotion time.
    pub freshness: Vec<ModelFreshness>,
}

impl ProductEvidence {
    /// The product's definition again (for freshness checks after the release).
    pub fn product(&self) -> Product {
        Product {
            name: self.name.clone(),
            description: self.description.clone(),
            owners: self.owners.clone(),
            models: self.models.clone(),
            consumers: self.consumers.clone(),
            promises: self.promises.clone(),
            classification: self.classification.clone(),
        }
    }
}

/// The plan's backfill: what was planned, and what the batches actually took.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackfillSummary {
    pub models: u32,
    pub intervals: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
}

/// Where a rollback of this release would go, and what it would do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RollbackEvidence {
    /// The release a rollback returns to (`None`: this is the environment's first).
    pub target: Option<String>,
    /// Whether every table of the target still exists.
    pub ready: bool,
    pub missing_tables: Vec<String>,
    /// The products' freshness if the environment were rolled back now.
    pub freshness: Vec<ModelFreshness>,
}

/// What a flip records beyond the release itself, gathered before the flip.
#[derive(Debug, Clone, Default)]
pub struct EvidenceInput {
    pub changes: Vec<Change>,
    pub products: Vec<Product>,
    pub impact: Impact,
    pub source: Option<SourceInfo>,
    pub backfill: BackfillSummary,
    pub gates: Vec<GateResult>,
    /// Freshness of every product's models in the new state.
    pub freshness: Vec<ModelFreshness>,
    pub rollback: RollbackEvidence,
    /// The audit results of the promoted tables, where they reach beyond the release's own
    /// batches (tables a dev environment built and audited); empty: the release's audits.
    pub audits: Vec<AuditResult>,
    /// Filled in by the flip itself.
    pub consistency: Option<FlipConsistency>,
}

pub fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The evidence of `release`, from what was gathered before the flip.
pub fn assemble(release: &Release, input: &EvidenceInput) -> Evidence {
    let audits = if input.audits.is_empty() {
        &release.audits
    } else {
        &input.audits
    };
    let products = input
        .products
        .iter()
        .map(|product| product_evidence(product, input, audits))
        .collect();
    Evidence {
        schema_version: SCHEMA_VERSION.into(),
        release: release.id.clone(),
        environment: release.environment.clone(),
        kind: release.kind,
        promoted_at: rfc3339(release.created_at),
        promoted_by: release.created_by.clone(),
        before: SnapshotSet {
            release: release.previous_release.clone(),
            snapshots: release.previous.clone(),
        },
        after: SnapshotSet {
            release: Some(release.id.clone()),
            snapshots: release.snapshots.clone(),
        },
        source: input.source.clone(),
        plan: PlanEvidence {
            id: release.plan_id.clone(),
            digest: release.digest.clone(),
            restored_release: release.restored_release.clone(),
        },
        changes: input.changes.iter().map(ChangeEvidence::from).collect(),
        audits: audits.iter().map(AuditEvidence::from).collect(),
        gates: input.gates.clone(),
        approvals: release.approvals.iter().map(approval_evidence).collect(),
        products,
        backfill: input.backfill.clone(),
        rollback: input.rollback.clone(),
        grants: crate::grants::changes(
            release
                .previous
                .iter()
                .map(|r| (r.name.as_str(), &r.grants)),
            release
                .snapshots
                .iter()
                .map(|r| (r.name.as_str(), &r.grants)),
        ),
        consistency: input.consistency.clone(),
    }
}

fn approval_evidence(a: &Approval) -> ApprovalEvidence {
    ApprovalEvidence {
        user: a.user.clone(),
        at: rfc3339(a.at),
        digest: a.digest.clone(),
        groups: a.groups.clone(),
        comment: a.comment.clone(),
    }
}

fn product_evidence(
    product: &Product,
    input: &EvidenceInput,
    audits: &[AuditResult],
) -> ProductEvidence {
    let impact = input
        .impact
        .products
        .iter()
        .find(|p| p.product == product.name);
    let freshness: Vec<ModelFreshness> = input
        .freshness
        .iter()
        .filter(|f| f.product == product.name)
        .cloned()
        .collect();
    let mut checks = vec![freshness_check(product, &freshness)];
    checks.push(match (product.promises.schema, impact) {
        (crate::products::SchemaPromise::None, _) => PromiseCheck {
            promise: "schema".into(),
            state: PromiseState::None,
            detail: "no schema promise".into(),
        },
        (_, Some(i)) if i.meaning_change => PromiseCheck {
            promise: "schema".into(),
            state: PromiseState::Broken,
            detail: format!("meaning change: {}", i.reasons.join("; ")),
        },
        _ => PromiseCheck {
            promise: "schema".into(),
            state: PromiseState::Kept,
            detail: "no breaking change to its models".into(),
        },
    });
    checks.push(gates::quality_check(product, audits));
    ProductEvidence {
        name: product.name.clone(),
        description: product.description.clone(),
        owners: product.owners.clone(),
        classification: product.classification.clone(),
        models: product.models.clone(),
        consumers: product.consumers.clone(),
        promises: product.promises.clone(),
        affected: impact.is_some(),
        meaning_change: impact.is_some_and(|i| i.meaning_change),
        reasons: impact.map(|i| i.reasons.clone()).unwrap_or_default(),
        changes: impact.map(|i| i.models.clone()).unwrap_or_default(),
        backfill: impact.map(|i| i.backfill.clone()).unwrap_or_default(),
        checks,
        freshness,
    }
}

fn freshness_check(product: &Product, freshness: &[ModelFreshness]) -> PromiseCheck {
    if product.promises.freshness_seconds.is_none() {
        return PromiseCheck {
            promise: "freshness".into(),
            state: PromiseState::None,
            detail: "no freshness promise".into(),
        };
    }
    let stale: Vec<String> = freshness
        .iter()
        .filter(|f| !f.ok)
        .map(ModelFreshness::describe)
        .collect();
    if stale.is_empty() {
        PromiseCheck {
            promise: "freshness".into(),
            state: PromiseState::Kept,
            detail: freshness
                .iter()
                .map(ModelFreshness::describe)
                .collect::<Vec<_>>()
                .join("; "),
        }
    } else {
        PromiseCheck {
            promise: "freshness".into(),
            state: PromiseState::Broken,
            detail: stale.join("; "),
        }
    }
}

/// `sha256:` of a stored evidence document's text: the operator records it beside the copy it
/// publishes, and readers check the copy against it.
pub fn text_digest(json: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", hex::encode(Sha256::digest(json.as_bytes())))
}

/// Decodes a stored evidence document.
pub fn decode(json: &str) -> serde_json::Result<Evidence> {
    serde_json::from_str(json)
}
