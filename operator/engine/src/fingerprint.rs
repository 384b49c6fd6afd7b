//! Fingerprints: stable hashes of what a model computes (data) and how it is described
//! (metadata), chained through its parents.
//!
//! The data hash covers the canonical query text (so formatting, comments and keyword case
//! never change it), the kind and its data-affecting arguments (incremental kinds: dialect,
//! time column or unique key, lookback), the interval unit the cron implies, declared column
//! types and a seed's contents. Everything else a header says (owner, description, cron, start,
//! end, tags, grains, audits, dialect, batch size, forward-only, grants) goes into the metadata hash —
//! property by property as SQLMesh 0.236 splits them.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::graph::{Dag, Node, model_key};
use crate::intervals::Cron;
use crate::model::{CustomAudit, Dialect, ModelKind};

/// A short (10 hex digits) stable hash of the given parts.
pub fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    hex::encode(&h.finalize()[..5])
}

/// The kind's name and the arguments that change what lands in the table.
fn kind_data(kind: &ModelKind, dialect: Dialect) -> String {
    match kind {
        ModelKind::IncrementalByTimeRange {
            time_column,
            lookback,
            ..
        } => {
            format!(
                "{}({time_column};lookback={lookback};{dialect})",
                kind.name()
            )
        }
        ModelKind::IncrementalByUniqueKey { unique_key, .. } => {
            format!("{}({};{dialect})", kind.name(), unique_key.join(","))
        }
        other => other.name().to_string(),
    }
}

/// The kind's arguments that only steer how work is scheduled.
fn kind_metadata(kind: &ModelKind) -> String {
    match kind {
        ModelKind::IncrementalByTimeRange {
            batch_size,
            forward_only,
            ..
        }
        | ModelKind::IncrementalByUniqueKey {
            batch_size,
            forward_only,
            ..
        } => {
            format!("batch_size={batch_size:?};forward_only={forward_only}")
        }
        ModelKind::Seed { path } => format!("path={path}"),
        _ => String::new(),
    }
}

/// The interval unit a cron implies, as hashed (empty when the cron does not parse: the plan
/// reports that error).
fn unit_of(cron: &str) -> String {
    Cron::parse(cron)
        .ok()
        .and_then(|c| c.interval_unit())
        .map(|u| format!("{u:?}"))
        .unwrap_or_default()
}

/// Hash of the node's own data-affecting definition.
pub fn data_hash(node: &Node) -> String {
    data_hash_with_unit(node, &unit_of(&node.model.cron))
}

/// [`data_hash`] with the cron's interval unit already worked out (it is shared by most
/// models, and parsing a cron is not free).
fn data_hash_with_unit(node: &Node, unit: &str) -> String {
    let m = &node.model;
    let query = node
        .query
        .as_ref()
        .map(|q| q.canonical.as_str())
        .unwrap_or("");
    let columns: Vec<String> = m
        .columns
        .iter()
        .map(|(n, t)| format!("{n} {}", t.to_ascii_uppercase()))
        .collect();
    let external_name = if matches!(m.kind, ModelKind::External) {
        m.name.as_str()
    } else {
        ""
    };
    // SQLMesh hashes the interval unit the cron implies: a daily model that becomes hourly
    // needs a new table.
    let kind = kind_data(&m.kind, m.dialect);
    let columns = columns.join(",");
    let mut parts = vec![
        query,
        &kind,
        unit,
        &columns,
        m.seed_content.as_deref().unwrap_or(""),
        external_name,
    ];
    // Pre/post statements change what a run does to the data, as in SQLMesh's data hash
    // (hashed expanded; a model without them hashes as before they existed).
    let statements = [m.pre_statements.join(";\n"), m.post_statements.join(";\n")];
    if !m.pre_statements.is_empty() || !m.post_statements.is_empty() {
        parts.extend(statements.iter().map(String::as_str));
    }
    short_hash(&parts)
}

/// Hash of the node's metadata, including the text of custom audits it uses.
pub fn metadata_hash(
    node: &Node,
    audits: &std::collections::BTreeMap<String, CustomAudit>,
) -> String {
    let m = &node.model;
    let (tags, grains) = (m.tags.join(","), m.grains.join(","));
    let audit_text: Vec<String> = m
        .audits
        .iter()
        .map(|a| {
            let body = audits
                .get(a.base_name())
                .map(|c| c.query.as_str())
                .unwrap_or("");
            format!("{}{:?}{body}", a.name, a.args)
        })
        .collect();
    let dialect = m.dialect.to_string();
    let audit_text = audit_text.join(";");
    let kind = kind_metadata(&m.kind);
    let mut parts = vec![
        m.owner.as_deref().unwrap_or(""),
        m.description.as_deref().unwrap_or(""),
        &m.cron,
        &dialect,
        m.start.as_deref().unwrap_or(""),
        m.end.as_deref().unwrap_or(""),
        &tags,
        &grains,
        &audit_text,
        &kind,
    ];
    // Only hashed when declared, so models without grants keep the fingerprints they had
    // before grants existed (an upgrade is not a metadata change of every model).
    let grants = if m.grants.is_empty() && m.grants_target_layer.is_default() {
        String::new()
    } else {
        format!("grants={:?};layer={}", m.grants, m.grants_target_layer)
    };
    if !grants.is_empty() {
        parts.push(&grants);
    }
    short_hash(&parts)
}

/// Fingerprints of every node, keyed by model key, computed parents first.
pub fn fingerprint_all(
    dag: &Dag,
    audits: &std::collections::BTreeMap<String, CustomAudit>,
) -> HashMap<String, Fingerprint> {
    let mut out: HashMap<String, Fingerprint> = HashMap::with_capacity(dag.nodes.len());
    let mut units: HashMap<&str, String> = HashMap::new();
    for node in &dag.nodes {
        let unit = units
            .entry(node.model.cron.as_str())
            .or_insert_with(|| unit_of(&node.model.cron));
        let mut parent_data = Vec::new();
        let mut parent_meta = Vec::new();
        for p in &node.parents {
            let fp = &out[&model_key(p)];
            parent_data.push(format!("{}{}", fp.data_hash, fp.parent_data_hash));
            parent_meta.push(format!("{}{}", fp.metadata_hash, fp.parent_metadata_hash));
        }
        let fp = Fingerprint {
            data_hash: data_hash_with_unit(node, unit),
            metadata_hash: metadata_hash(node, audits),
            parent_data_hash: short_hash(
                &parent_data.iter().map(String::as_str).collect::<Vec<_>>(),
            ),
            parent_metadata_hash: short_hash(
                &parent_meta.iter().map(String::as_str).collect::<Vec<_>>(),
            ),
        };
        out.insert(model_key(&node.model.name), fp);
    }
    out
}

/// A fresh physical version: the model's data hash and its parents' versions. Reverting a
/// change gives back the old version, so its table is reused.
pub fn fresh_version(data_hash: &str, parent_versions: &[&str]) -> String {
    let mut parts = vec![data_hash];
    parts.extend_from_slice(parent_versions);
    short_hash(&parts)
}

/// The hashes that identify a snapshot. `data` covers what changes the table's contents,
/// `metadata` what does not; the parent hashes chain both through the graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint {
    pub data_hash: String,
    pub metadata_hash: String,
    pub parent_data_hash: String,
    pub parent_metadata_hash: String,
}

impl Fingerprint {
    /// A short stable id combining all four hashes.
    pub fn id(&self) -> String {
        short_hash(&[
            &self.data_hash,
            &self.metadata_hash,
            &self.parent_data_hash,
            &self.parent_metadata_hash,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::{model, project};

    fn fingerprints(models: Vec<crate::model::Model>) -> HashMap<String, Fingerprint> {
        let dag = Dag::build(&project(models)).unwrap();
        fingerprint_all(&dag, &Default::default())
    }

    #[test]
    fn formatting_does_not_change_the_data_hash_but_logic_does() {
        let a = fingerprints(vec![model("s.a", "SELECT id FROM raw.x")]);
        let b = fingerprints(vec![model("s.a", "select ID\n  from RAW.X -- comment")]);
        let c = fingerprints(vec![model("s.a", "SELECT id + 1 AS id FROM raw.x")]);
        assert_eq!(a["s.a"], b["s.a"]);
        assert_ne!(a["s.a"].data_hash, c["s.a"].data_hash);
    }

    #[test]
    fn metadata_changes_only_the_metadata_hash() {
        let mut owned = model("s.a", "SELECT 1 AS id");
        owned.owner = Some("data-team".into());
        let a = fingerprints(vec![model("s.a", "SELECT 1 AS id")]);
        let b = fingerprints(vec![owned]);
        assert_eq!(a["s.a"].data_hash, b["s.a"].data_hash);
        assert_ne!(a["s.a"].metadata_hash, b["s.a"].metadata_hash);
    }

    #[test]
    fn parent_changes_chain_to_children() {
        let a = fingerprints(vec![
            model("s.p", "SELECT 1 AS id"),
            model("s.c", "SELECT * FROM s.p"),
        ]);
        let b = fingerprints(vec![
            model("s.p", "SELECT 2 AS id"),
            model("s.c", "SELECT * FROM s.p"),
        ]);
        assert_eq!(a["s.c"].data_hash, b["s.c"].data_hash);
        assert_ne!(a["s.c"].parent_data_hash, b["s.c"].parent_data_hash);
    }

    #[test]
    fn hashes_are_stable_across_runs_and_machines() {
        // A fixed expectation: changing the hashing scheme silently would orphan every table.
        assert_eq!(short_hash(&["a", "b"]), short_hash(&["a", "b"]));
        assert_ne!(short_hash(&["ab", ""]), short_hash(&["a", "b"]));
        assert_eq!(short_hash(&["sluice"]).len(), 10);
        assert_eq!(short_hash(&["sluice"]), "f4e53284ec");
    }
}
