//! `Promotion`: the only object that changes what consumers see. It promotes a Ready Plan into
//! its Environment once every gate passes, or rolls an Environment back to an earlier release.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::conditions::Condition;

pub use super::approval::{APPROVE_PREFIX, CREATED_BY, LIFT_PREFIX, REJECT_PREFIX};

#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "sluice.dev",
    version = "v1alpha1",
    kind = "Promotion",
    namespaced,
    doc = "The promotion of a Ready Plan into its Environment once every gate passes, or a rollback of an Environment to an earlier release.",
    status = "PromotionStatus",
    shortname = "sprom",
    category = "sluice",
    printcolumn = r#"{"name":"Environment","type":"string","jsonPath":".status.environment"}"#,
    printcolumn = r#"{"name":"Plan","type":"string","jsonPath":".spec.plan"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Approvals","type":"string","jsonPath":".status.approvalCount"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.spec == oldSelf.spec").message("Promotion.spec is immutable: create a new Promotion instead")
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "has(self.plan) != has(self.rollback)",
    "message": "set exactly one of spec.plan and spec.rollback"
}]))]
pub struct PromotionSpec {
    /// Promote this Plan (same namespace) into its environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// Or re-point an environment at an earlier release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackSpec>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackSpec {
    /// The Environment (in this namespace).
    #[schemars(length(min = 1, max = 253))]
    pub environment: String,
    /// The release to restore (default: the one the current release was made from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum PromotionPhase {
    #[default]
    Pending,
    AwaitingApproval,
    Promoting,
    Promoted,
    Rejected,
    Failed,
    Superseded,
}

impl PromotionPhase {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            PromotionPhase::Promoted
                | PromotionPhase::Rejected
                | PromotionPhase::Failed
                | PromotionPhase::Superseded
        )
    }
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum GateState {
    Passed,
    Pending,
    Failed,
}

/// One condition the flip waits for.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Gate {
    pub name: String,
    pub state: GateState,
    #[serde(default)]
    pub message: String,
}

/// One approval annotation, and whether it counted.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalStatus {
    pub user: String,
    /// The annotation key it came from.
    pub key: String,
    /// The digest it approves.
    pub digest: String,
    /// Groups the approval carries (verified at admission).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// When the operator first saw it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    pub counted: bool,
    /// Why it did or did not count.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub phase: PromotionPhase,
    /// The Environment object promoted into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The plan digest the gates were evaluated for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<Gate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<ApprovalStatus>,
    /// `counted/required`, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_count: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_by: Option<String>,
    /// The rejection that stops this promotion: written on it, or recorded for the plan digest
    /// from another Promotion (deleting a Promotion does not erase a rejection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection: Option<RejectionStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<PromotedRelease>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The ConfigMap (owned by this Promotion) holding the release's evidence
    /// (`evidence.json`, docs/evidence.schema.json).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// `sha256:` of the evidence ConfigMap's `evidence.json` as the operator wrote it
    /// (`kubectl sluice evidence` checks it before showing the document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_digest: Option<String>,
    /// When the operator first saw this Promotion while the approval policy was missing (RFC
    /// 3339): its annotations and creator may have been forged then, so none of its approvals
    /// ever counts and it never flips; create a new Promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_missing_at: Option<String>,
    /// Delivery of the release's OpenLineage event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<LineageStatus>,
    /// A query holding the environment's views, which the flip is waiting out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for_readers: Option<ReadersWait>,
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// A flip waiting for a long query to finish.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadersWait {
    /// When the flip first found the views held (RFC 3339).
    pub since: String,
    /// The view held (`schema.view`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    /// How long the holding query's transaction had been running (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_age_seconds: Option<u64>,
    /// The start of the holding query.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub query: String,
}

/// A rejection, and where it comes from.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RejectionStatus {
    pub user: String,
    /// Groups it carries (verified at admission).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    pub reason: String,
    /// The Promotion it was written on (`<namespace>/<name>`).
    pub promotion: String,
    /// When it was first seen (RFC 3339).
    pub at: String,
    /// Recorded for the plan digest from another Promotion: it stands until the plan changes
    /// or an approver lifts it (`kubectl sluice lift`).
    #[serde(default)]
    pub recorded: bool,
}

/// Whether the OpenLineage event reached its endpoint; failures are retried with backoff and
/// never touch the promotion.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineageStatus {
    /// `Sent`, `Retrying` or `GaveUp`.
    pub state: String,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    /// When the next attempt is due (RFC 3339), while retrying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotedRelease {
    pub id: String,
    /// RFC 3339.
    pub promoted_at: String,
}
