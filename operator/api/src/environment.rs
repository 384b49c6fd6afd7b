//! `Environment`: one SQLMesh environment in one warehouse, and who may promote into it.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::conditions::Condition;

/// One environment: its views live in the warehouse named by the Secret. Its name in the
/// warehouse is `spec.name` or `metadata.name` (`-` becomes `_`); `prod` is the one whose views
/// carry no suffix.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "sluice.dev",
    version = "v1alpha1",
    kind = "Environment",
    namespaced,
    doc = "An environment: a set of SQL models exposed as views in one warehouse, and who may promote into it.",
    status = "EnvironmentStatus",
    shortname = "senv",
    category = "sluice",
    printcolumn = r#"{"name":"Release","type":"string","jsonPath":".status.release.id"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentSpec {
    /// The environment's name in the warehouse, if not `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]([a-z0-9]|[-_][a-z0-9])*$"), length(max = 48))]
    pub name: Option<String>,
    pub warehouse: WarehouseSpec,
    /// An ephemeral (PR) environment: after this long without activity (a promotion or a
    /// scheduled run; `7d`, `12h`) the operator deletes the Environment, dropping its views
    /// and state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+[smhdw]?$"))]
    pub ttl: Option<String>,
    #[serde(default)]
    pub promotion: PromotionPolicy,
    #[serde(default)]
    pub schedule: ScheduleSpec,
    /// Backfill Jobs of one Plan that run at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub concurrency: Option<u32>,
    /// Where each release's OpenLineage event goes (best effort: never blocks a promotion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<LineageSpec>,
    /// The environment's backfill and run Jobs: resources and a deadline, instead of the
    /// operator's defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<JobsSpec>,
    /// How a flip treats the warehouse's readers (PostgreSQL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flip: Option<FlipSpec>,
}

/// A flip's patience with readers: it never makes a reader wait longer than `lockTimeout`,
/// and waits for a long query at most `maxWaitForReaders` before failing with nothing changed.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlipSpec {
    /// The longest a flip's lock request waits (and a reader behind it): `500ms`, `2s`.
    /// Default 1s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(ms|s|m)?$"))]
    pub lock_timeout: Option<String>,
    /// How long a Promotion keeps retrying while a query holds the environment's views
    /// (condition `WaitingForReaders`) before it fails: `30m`. Default 10m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+[smhd]?$"))]
    pub max_wait_for_readers: Option<String>,
    /// Promote only where one transaction moves every view (DuckDB, PostgreSQL): a Promotion
    /// on a warehouse that moves views one by one (Spark) fails, saying so, instead of letting
    /// readers see two releases at once for the flip's duration.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_atomic: bool,
}

/// What each backfill or run Job of an environment may use.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobsSpec {
    /// Requests and limits of the Job's container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<k8s_openapi::api::core::v1::ResourceRequirements>,
    /// A Job running longer than this is stopped and counts as failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60))]
    pub active_deadline_seconds: Option<i64>,
}

/// An OpenLineage endpoint and/or file for the environment's releases.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineageSpec {
    /// An OpenLineage HTTP endpoint (Marquez: `http://marquez.lineage:5000`; the path
    /// `/api/v1/lineage` is used when the URL has none). `http://` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^http://"))]
    pub url: Option<String>,
    /// A file (in the operator's container) each event is appended to as a JSON line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// Where the warehouse connection comes from.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WarehouseSpec {
    /// A Secret key holding the warehouse URL (`postgres://...`, or `duckdb:PATH` for
    /// one-node use). Jobs receive it through `secretKeyRef`, never in their spec.
    pub secret_ref: SecretKeyRef,
    /// A Secret key holding the URL of a PostgreSQL database where Sluice keeps its state
    /// (snapshots, intervals, environments, releases) when not in the warehouse itself
    /// (SQLMesh's `state_connection`). Unset: the state lives in the warehouse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_secret_ref: Option<SecretKeyRef>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[serde(default = "default_secret_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

fn default_secret_key() -> String {
    "url".into()
}

/// Who may promote into the environment, and how many of them must agree.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromotionPolicy {
    /// The operator promotes Ready plans itself (dev and PR environments).
    #[serde(default)]
    pub auto: bool,
    /// Distinct approvers needed (default: 0 with `auto`, else 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 20))]
    pub required_approvals: Option<u32>,
    /// Who may approve; empty: anyone the RBAC verb `approve` on promotions allows.
    #[serde(default)]
    pub approvers: Approvers,
    /// Whether the plan's author and the promotion's creator may approve it themselves.
    #[serde(default)]
    pub allow_self_approval: bool,
    /// Approvals a rollback needs (rollbacks are emergencies: none by default).
    #[serde(default)]
    #[schemars(range(max = 20))]
    pub rollback_approvals: u32,
    /// Classification tags (`pii`) whose changes need an approval from the listed people, on
    /// top of the quorum: a change to a model tagged so (or exposed by a product classified
    /// so) waits for one of them.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub classifications: std::collections::BTreeMap<String, Approvers>,
}

impl PromotionPolicy {
    pub fn required(&self) -> u32 {
        self.required_approvals
            .unwrap_or(if self.auto { 0 } else { 1 })
    }
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Approvers {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

impl Approvers {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }
}

/// Scheduled runs: the promoted state is kept fresh on each model's cron.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleSpec {
    #[serde(default)]
    pub suspend: bool,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The environment's name in the warehouse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warehouse_name: Option<String>,
    /// The release live in the warehouse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseStatus>,
    /// Models the environment exposes.
    #[serde(default)]
    pub models: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<RunStatus>,
    /// When the next scheduled run is due (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<String>,
    /// When an ephemeral environment expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The data products of the live release and whether they keep their freshness promise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<ProductStatus>,
    /// The newest releases, and whether each can still be rolled back to (the janitor drops
    /// the tables of releases past the retention).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<ReleaseAvailability>,
}

/// Whether a release can be rolled back to.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseAvailability {
    /// `prod-r3`.
    pub id: String,
    pub restorable: bool,
    /// Why not, when it is not.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// One data product's freshness, checked continuously for the promoted state.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductStatus {
    pub name: String,
    /// `ok`, `breached`, or `unknown` (no freshness promise, or no time-based data).
    pub state: String,
    /// The stalest exposed model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Age of its newest complete interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<i64>,
    /// The same, for people (`3d 4h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag: Option<String>,
    /// The promise (`26h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseStatus {
    pub id: String,
    /// The Plan object promoted (when a Promotion of this namespace made the release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion: Option<String>,
    /// RFC 3339.
    pub promoted_at: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approved_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The models the release exposes, by name (the first [`MAX_RELEASE_MODELS`]; `models`
    /// in the status counts them all), for `kubectl sluice get environment`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ReleaseModel>,
}

/// Models listed in a release's status at most.
pub const MAX_RELEASE_MODELS: usize = 100;

/// One model of a release: its kind and physical version.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseModel {
    pub name: String,
    pub kind: String,
    pub version: String,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunStatus {
    /// The run's id (its units of work in the warehouse; its Jobs' `sluice.dev/run` label).
    #[serde(default)]
    pub id: String,
    /// RFC 3339.
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// `Running`, `Succeeded` or `Failed`.
    pub result: String,
    #[serde(default)]
    pub models: u32,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}
