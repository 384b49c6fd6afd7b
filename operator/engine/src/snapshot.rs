//! Snapshots (a model at a fingerprint), environments and releases: what the state store keeps.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::grants::{Grants, GrantsLayer};
use crate::intervals::Interval;
use crate::model::{CustomAudit, Model, Statements, split_name};

pub use crate::fingerprint::Fingerprint;

/// What a plan decided about a changed model. Names match `sluice plan --json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Breaking,
    NonBreaking,
    ForwardOnly,
    IndirectBreaking,
    IndirectNonBreaking,
    Metadata,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Breaking => "breaking",
            Category::NonBreaking => "non_breaking",
            Category::ForwardOnly => "forward_only",
            Category::IndirectBreaking => "indirect_breaking",
            Category::IndirectNonBreaking => "indirect_non_breaking",
            Category::Metadata => "metadata",
        }
    }
}

/// Identifies a snapshot: model name plus fingerprint id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SnapshotId {
    pub name: String,
    pub fingerprint: String,
}

/// A model at one fingerprint, with the physical table version it writes to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub model: Model,
    pub fingerprint: Fingerprint,
    /// Physical table version. Several snapshots may share one (metadata-only and
    /// indirect non-breaking changes, forward-only changes).
    pub version: String,
    /// Parent model names (models only; external sources are not listed).
    pub parents: Vec<String>,
    /// How the plan that created this snapshot categorized it (`None` for new models).
    pub category: Option<Category>,
    /// When an apply last recorded it (seconds since the epoch); the janitor spares the
    /// tables of recent snapshots.
    pub created_at: i64,
    /// The custom audits (`audits/*.sql`) the model uses, as they were when it was planned, so
    /// a scheduled run audits with them without the project at hand.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_audits: BTreeMap<String, CustomAudit>,
}

impl Snapshot {
    pub fn id(&self) -> SnapshotId {
        SnapshotId {
            name: self.model.name.clone(),
            fingerprint: self.fingerprint.id(),
        }
    }

    pub fn table(&self) -> PhysicalTable {
        PhysicalTable::new(&self.model.name, &self.version)
    }

    pub fn reference(&self) -> SnapshotRef {
        SnapshotRef {
            name: self.model.name.clone(),
            fingerprint: self.fingerprint.id(),
            version: self.version.clone(),
            kind: self.model.kind.name().to_string(),
            grants: self.model.grants.clone(),
            grants_target_layer: self.model.grants_target_layer,
        }
    }
}

/// A physical table (or view, for VIEW models): `sluice__<schema>.<schema>__<table>__<version>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PhysicalTable {
    pub schema: String,
    pub table: String,
}

impl PhysicalTable {
    pub fn new(model_name: &str, version: &str) -> PhysicalTable {
        let (schema, table) = split_name(model_name).unwrap_or(("default", model_name));
        PhysicalTable {
            schema: format!("sluice__{schema}"),
            table: format!("{schema}__{table}__{version}"),
        }
    }

    /// Fully qualified and quoted for use in SQL.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.table))
    }
}

impl std::fmt::Display for PhysicalTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}

/// Double-quotes an identifier for SQL (both DuckDB and PostgreSQL).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Single-quotes a string literal for SQL.
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A compact pointer from an environment or release to a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SnapshotRef {
    pub name: String,
    pub fingerprint: String,
    pub version: String,
    pub kind: String,
    /// The model's declared grants, applied where `grants_target_layer` says: a release
    /// carries them, so a rollback restores the grants along with the tables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub grants: Grants,
    #[serde(default, skip_serializing_if = "GrantsLayer::is_default")]
    pub grants_target_layer: GrantsLayer,
}

impl SnapshotRef {
    pub fn id(&self) -> SnapshotId {
        SnapshotId {
            name: self.name.clone(),
            fingerprint: self.fingerprint.clone(),
        }
    }

    pub fn table(&self) -> PhysicalTable {
        PhysicalTable::new(&self.name, &self.version)
    }

    /// Embedded and external models have no table and get no view.
    pub fn is_symbolic(&self) -> bool {
        self.kind == "EMBEDDED" || self.kind == "EXTERNAL"
    }

    /// What the environment's view of this model is granted (empty: nothing declared).
    pub fn view_grants(&self) -> &Grants {
        static NONE: Grants = Grants::new();
        if self.grants_target_layer.views() {
            &self.grants
        } else {
            &NONE
        }
    }
}

/// Why an environment name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid environment name {name:?}: use 1 to 48 lower-case letters, digits, `-` or `_`, \
     starting with a letter, without `__`, `--`, `-_` or `_-`, not ending in `-` or `_`"
)]
pub struct EnvironmentNameError {
    pub name: String,
}

/// The name an environment has in the warehouse, from the name a user or a Kubernetes object
/// gives it: `pr-123` (a DNS label) becomes `pr_123`, so its views live in plain, unquoted
/// schemas (`mart__pr_123`). The mapping is deterministic; two names that map to the same one
/// (`pr-123`, `pr_123`) *are* the same environment, and the operator refuses a second owner.
/// Anything that is not a plain identifier is refused rather than quoted or escaped.
pub fn environment_name(name: &str) -> Result<String, EnvironmentNameError> {
    let bytes = name.as_bytes();
    let sep = |b: u8| b == b'-' || b == b'_';
    let ok = !bytes.is_empty()
        && bytes.len() <= 48
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || sep(b))
        && !bytes.windows(2).any(|w| sep(w[0]) && sep(w[1]))
        && !sep(bytes[bytes.len() - 1]);
    if !ok {
        return Err(EnvironmentNameError { name: name.into() });
    }
    Ok(name.replace('-', "_"))
}

/// The view an environment exposes for a model: `<schema>.<table>` in prod,
/// `<schema>__<env>.<table>` elsewhere.
pub fn environment_view(environment: &str, model_name: &str) -> (String, String) {
    let (schema, table) = split_name(model_name).unwrap_or(("default", model_name));
    if environment == "prod" {
        (schema.to_string(), table.to_string())
    } else {
        (format!("{schema}__{environment}"), table.to_string())
    }
}

/// An environment as recorded in state: which snapshots its views point at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentRecord {
    pub name: String,
    pub snapshots: Vec<SnapshotRef>,
    /// The plan last applied to it.
    pub plan_id: String,
    /// Bumped on every promotion; a promotion whose plan saw another revision is refused.
    pub revision: i64,
    /// The release currently live.
    pub release_id: Option<String>,
    /// Seconds since the epoch after which `janitor` drops the environment (`None` = keep).
    pub expires_at: Option<i64>,
    pub updated_at: i64,
}

/// Evidence of one audit run: stored in state as it runs, and kept with the release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditResult {
    pub model: String,
    pub audit: String,
    pub blocking: bool,
    pub interval: Option<Interval>,
    /// Number of violating rows; 0 = passed.
    pub violations: u64,
    /// The table version audited.
    #[serde(default)]
    pub version: String,
    /// When it ran (seconds since the epoch).
    #[serde(default)]
    pub ran_at: i64,
    /// What ran it: the task (and, under the operator, the Job's pod).
    #[serde(default)]
    pub task: String,
    /// Why a non-blocking audit could not run (its query failed, e.g. it reads a model built
    /// after it): it warns, as a failing one does. A blocking audit that cannot run fails its
    /// model instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl AuditResult {
    pub fn passed(&self) -> bool {
        self.violations == 0 && self.error.is_none()
    }

    /// What it found, for people: `3 row(s)`, or why it could not run.
    pub fn finding(&self) -> String {
        match &self.error {
            Some(error) => format!("could not run: {error}"),
            None => format!("{} row(s)", self.violations),
        }
    }
}

/// What created a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseKind {
    Promotion,
    Rollback,
}

/// One approval of a release: who, when, and the plan digest they reviewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub user: String,
    /// Seconds since the epoch.
    pub at: i64,
    /// The plan digest the approval was given for.
    pub digest: String,
    /// Groups the approver's membership was verified in, where that counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// One promotion (or rollback) of an environment: before and after, and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// `<environment>-r<number>`; numbers only grow, also across a dropped and recreated
    /// environment, so an id is never reused.
    pub id: String,
    pub environment: String,
    #[serde(default)]
    pub number: i64,
    pub kind: ReleaseKind,
    pub plan_id: String,
    /// The digest of the promoted plan (rollbacks: of the restored release's plan).
    #[serde(default)]
    pub digest: Option<String>,
    /// The release current before this one was made.
    #[serde(default)]
    pub previous_release: Option<String>,
    /// The release this one's state descends from: for a promotion the previous release, for
    /// a rollback the restored release's own base. `rollback` without a target goes here, so
    /// successive rollbacks step back one release each.
    #[serde(default)]
    pub base_release: Option<String>,
    pub previous: Vec<SnapshotRef>,
    pub snapshots: Vec<SnapshotRef>,
    /// For rollbacks, the release whose snapshots were restored.
    pub restored_release: Option<String>,
    pub audits: Vec<AuditResult>,
    #[serde(default)]
    pub approvals: Vec<Approval>,
    /// Statements run in the promotion's transaction, kept so a rollback re-runs them.
    #[serde(default, skip_serializing_if = "Statements::is_empty")]
    pub statements: Statements,
    /// The caller's idempotency key (the operator: the Promotion's uid): promoting again with
    /// the same key returns this release instead of flipping twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub created_by: String,
    /// Seconds since the epoch.
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::environment_name;

    #[test]
    fn kubernetes_names_map_to_plain_schema_suffixes() {
        assert_eq!(environment_name("dev").unwrap(), "dev");
        assert_eq!(environment_name("pr-123").unwrap(), "pr_123");
        assert_eq!(environment_name("pr_123").unwrap(), "pr_123");
        assert_eq!(environment_name("team-a-pr-7").unwrap(), "team_a_pr_7");
    }

    #[test]
    fn hostile_or_ambiguous_names_are_refused() {
        for bad in [
            "",
            "Dev",
            "1dev",
            "dev-",
            "dev_",
            "a--b",
            "a__b",
            "a-_b",
            "dev; DROP TABLE x",
            "dev\"x",
            "dev.x",
            "prod'--",
            "ünï",
            &"x".repeat(49),
        ] {
            let error = environment_name(bad).unwrap_err();
            assert!(
                error.to_string().contains("invalid environment name"),
                "{bad}"
            );
        }
    }
}
