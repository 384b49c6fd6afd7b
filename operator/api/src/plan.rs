//! `Plan`: "make environment E look like this project". Its spec never changes (a CEL rule in
//! the CRD refuses edits); everything the operator learns goes to its status.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::conditions::Condition;

/// A plan of a project (from a ConfigMap, git or a Flux artifact) into one Environment of the
/// same namespace. The operator computes it, runs its backfill as Jobs, and marks it Ready.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "sluice.dev",
    version = "v1alpha1",
    kind = "Plan",
    namespaced,
    doc = "A plan of a project into one Environment: what changes, what must be backfilled; the operator computes it and runs the backfill as Jobs.",
    status = "PlanStatus",
    shortname = "splan",
    category = "sluice",
    printcolumn = r#"{"name":"Environment","type":"string","jsonPath":".spec.environment"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Changes","type":"integer","jsonPath":".status.summary.changes"}"#,
    printcolumn = r#"{"name":"Backfill","type":"string","jsonPath":".status.backfill.progress"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("self.spec == oldSelf.spec").message("Plan.spec is immutable: create a new Plan instead")
)]
#[serde(rename_all = "camelCase")]
pub struct PlanSpec {
    /// The Environment (in this namespace) to plan into.
    #[schemars(length(min = 1, max = 253))]
    pub environment: String,
    pub source: PlanSource,
    #[serde(default)]
    pub options: PlanOptionsSpec,
    /// Who wrote the change (from the commit): the self-approval rule applies to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

/// Where the project comes from: exactly one of the fields.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "[has(self.configMap), has(self.git), has(self.flux)].filter(x, x).size() == 1",
    "message": "set exactly one of source.configMap, source.git and source.flux"
}]))]
pub struct PlanSource {
    /// A ConfigMap whose `binaryData` key (default `project.tar.gz`) holds the project
    /// directory as a gzipped tar (`kubectl sluice render` writes one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git: Option<GitSource>,
    /// A Flux source's artifact (`GitRepository`, `OCIRepository`, `Bucket`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flux: Option<FluxSource>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapSource {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default = "default_archive_key")]
    pub key: String,
}

fn default_archive_key() -> String {
    "project.tar.gz".into()
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitSource {
    /// `https://host/path` or `ssh://[user@]host/path` (`file://` and `http://` only when the
    /// operator runs with `--git-allow-protocol`).
    #[schemars(
        regex(pattern = r"^(https|ssh|http|file)://[^-\s][^\s]*$"),
        length(min = 1, max = 2048)
    )]
    pub url: String,
    /// A commit, tag or branch (letters, digits, `.`, `_`, `/`, `-`; never starting with `-`).
    #[schemars(
        regex(pattern = r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$"),
        length(min = 1, max = 255)
    )]
    pub revision: String,
    /// The project's directory inside the repository (relative, no `..`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[^/]"), length(max = 1024))]
    pub path: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FluxSource {
    #[schemars(regex(pattern = r"^(GitRepository|OCIRepository|Bucket)$"))]
    pub kind: String,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The project's directory inside the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// The options of `sluice plan`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanOptionsSpec {
    /// `YYYY-MM-DD[ HH:MM:SS]`: backfill from here (not for prod, unless restating).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Backfill up to this date (inclusive) or time (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// What "now" is for the plan; default: when it is computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_time: Option<String>,
    #[serde(default)]
    pub forward_only: bool,
    /// Models whose intervals are recomputed, with everything downstream.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restate: Vec<String>,
}

/// Where a plan is in its life. Ready plans wait for a Promotion.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum PlanPhase {
    #[default]
    Pending,
    Planning,
    Backfilling,
    Ready,
    Failed,
    Promoted,
    Superseded,
}

impl PlanPhase {
    pub fn is_terminal(self) -> bool {
        matches!(self, PlanPhase::Promoted | PlanPhase::Superseded)
    }
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub phase: PlanPhase,
    /// `sha256:...` of what promoting this plan would do; approvals bind to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The engine's id of the computed plan (its record in the warehouse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
    /// The environment state the plan was computed against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub based_on: Option<BasedOn>,
    /// What was planned: the source's digest and revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<PlanSummary>,
    /// Changed models (capped at 100; the whole plan is in `planConfigMap`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<ChangeStatus>,
    /// The ConfigMap (owned by this Plan) holding the full plan as gzipped JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_config_map: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<BackfillStatus>,
    /// Why the plan failed: the model, the reason and the tail of its Job's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureStatus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// What the plan does to the project's data products.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<ImpactStatus>,
    /// When the operator first saw this Plan while the approval policy was missing (RFC 3339):
    /// its creator may have been forged then, so under `allowSelfApproval: false` no approval
    /// of it counts; create a new Plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_missing_at: Option<String>,
    /// When the operator last computed the plan (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_at: Option<String>,
    /// The project's unit tests (`tests/*.yaml`), run when the plan was computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_tests: Option<UnitTestsStatus>,
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// How the project's unit tests went.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnitTestsStatus {
    pub passed: u32,
    pub failed: u32,
    /// The failed tests (the first 10), with the rows that differ.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<UnitTestFailure>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnitTestFailure {
    pub name: String,
    /// The test file, relative to the project.
    pub file: String,
    pub model: String,
    pub message: String,
}

/// Failures listed in a Plan's status; the count says how many there were.
pub const MAX_UNIT_TEST_FAILURES: usize = 10;

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BasedOn {
    /// The environment's release then (none: it did not exist or had none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    /// The environment the plan was diffed against (a new one starts from prod).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    /// `sha256:...` of the project files planned.
    pub digest: String,
    /// The git commit or Flux artifact revision, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// Counts by change category, and the intervals to backfill.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanSummary {
    pub changes: u32,
    pub models: u32,
    pub added: u32,
    pub removed: u32,
    pub breaking: u32,
    pub non_breaking: u32,
    pub indirect_breaking: u32,
    pub indirect_non_breaking: u32,
    pub metadata: u32,
    pub forward_only: u32,
    /// Batches to compute.
    pub intervals: u32,
}

/// One changed model, as in `sluice plan --json` (backfill as a range and a batch count).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeStatus {
    pub model: String,
    pub change: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub kind: String,
    pub table: String,
    /// `2024-01-01 - 2024-01-07`, inclusive like the summary `sluice plan` prints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<String>,
    #[serde(default)]
    pub batches: u32,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackfillStatus {
    /// Units of work (one Job each): models with something to build.
    pub total: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub running: u32,
    pub pending: u32,
    /// `succeeded/total`, for `kubectl get`.
    pub progress: String,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailureStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_tail: String,
}

/// A plan's effect on data products (the whole impact is in the plan ConfigMap).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImpactStatus {
    pub products: Vec<ProductImpactStatus>,
    /// Tags of changed models, and classifications of their products.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classifications: Vec<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductImpactStatus {
    pub name: String,
    /// A breaking change under a stable-schema promise: an owner must approve.
    pub meaning_change: bool,
    /// The exposed models that change, with their category (`mart.daily_revenue: breaking`).
    pub models: Vec<String>,
    /// Consumers downstream.
    pub consumers: Vec<String>,
    /// Who may approve a meaning change.
    pub owners: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Batches behind the product.
    #[serde(default)]
    pub intervals: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_target: Option<String>,
}
