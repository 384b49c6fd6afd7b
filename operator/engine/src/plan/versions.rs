//! Deciding, model by model, what a plan does: the change and its category, the physical
//! version (the table prod would use), and the table the plan's environment uses.
//!
//! A non-prod environment never writes into a table prod serves with a query prod has not
//! promoted. A forward-only change keeps prod's table as its version, so in a non-prod
//! environment it writes to its own *dev table* instead (as SQLMesh does), and so does every
//! changed model below one (it reads preview data). Only promotion to prod makes the new query
//! write into the shared table, from then on.

use std::collections::{BTreeMap, HashMap};

use super::{Change, ChangeType, PlanError, PlanOptions, is_prod};
use crate::categorize::{categorize_direct, categorize_indirect};
use crate::fingerprint::fresh_version;
use crate::graph::{Node, model_key};
use crate::model::{CustomAudit, ModelKind};
use crate::snapshot::{Category, Fingerprint, Snapshot, SnapshotRef};

/// Suffix of a dev table's version: `stg__orders__3fa2c1d4e5__dev`.
pub const DEV_SUFFIX: &str = "__dev";

/// What the plan decided for one model.
pub struct Decision {
    pub snapshot: Snapshot,
    pub change: Option<ChangeType>,
    /// The version of the table the plan's environment points at (differs from
    /// `snapshot.version` for dev tables).
    pub table_version: String,
}

/// Per-plan state of the walk over the graph (parents first).
pub struct Versioner<'a> {
    pub options: &'a PlanOptions,
    audits: &'a BTreeMap<String, CustomAudit>,
    pub now_secs: i64,
    /// Deployable version per model key.
    versions: HashMap<String, String>,
    /// Table version used in this environment per model key.
    tables: HashMap<String, String>,
    categories: HashMap<String, Category>,
}

impl<'a> Versioner<'a> {
    pub fn new(
        options: &'a PlanOptions,
        audits: &'a BTreeMap<String, CustomAudit>,
        now_secs: i64,
        size: usize,
    ) -> Versioner<'a> {
        Versioner {
            options,
            audits,
            now_secs,
            versions: HashMap::with_capacity(size),
            tables: HashMap::with_capacity(size),
            categories: HashMap::new(),
        }
    }

    /// Decides one node, given its fingerprint and what the base environment had for it.
    pub fn decide(
        &mut self,
        node: &Node,
        fp: Fingerprint,
        old: Option<(&Snapshot, &SnapshotRef)>,
    ) -> Result<Decision, PlanError> {
        let key = model_key(&node.model.name);
        let parent_keys: Vec<String> = node.parents.iter().map(|p| model_key(p)).collect();
        let parent_versions: Vec<&str> = parent_keys
            .iter()
            .map(|p| self.versions[p].as_str())
            .collect();
        let fresh = fresh_version(&fp.data_hash, &parent_versions);
        let (change, category, version) = match old {
            None => (Some(ChangeType::Added), Some(Category::Breaking), fresh),
            Some((old, _)) if old.fingerprint == fp => (None, None, old.version.clone()),
            Some((old, _)) => self.categorize(node, &fp, old, &parent_keys, fresh)?,
        };
        let table_version = match old {
            // Unchanged: keep whatever table the environment already points at.
            Some((old, old_ref)) if old.fingerprint == fp => old_ref.version.clone(),
            _ => self.table_version(&fp, category, &version, &parent_keys),
        };
        if let Some(c) = category {
            self.categories.insert(key.clone(), c);
        }
        self.versions.insert(key.clone(), version.clone());
        self.tables.insert(key, table_version.clone());
        let snapshot = match old {
            Some((old, _)) if old.fingerprint == fp => old.clone(),
            _ => Snapshot {
                model: node.model.clone(),
                fingerprint: fp,
                version,
                parents: node.parents.clone(),
                category,
                created_at: self.now_secs,
                custom_audits: node
                    .model
                    .audits
                    .iter()
                    .filter_map(|a| {
                        let name = a.base_name();
                        self.audits.get(name).map(|c| (name.to_string(), c.clone()))
                    })
                    .collect(),
            },
        };
        Ok(Decision {
            snapshot,
            change,
            table_version,
        })
    }

    /// Change type, category and deployable version of a model whose fingerprint changed.
    fn categorize(
        &self,
        node: &Node,
        fp: &Fingerprint,
        old: &Snapshot,
        parent_keys: &[String],
        fresh: String,
    ) -> Result<(Option<ChangeType>, Option<Category>, String), PlanError> {
        let kind = &node.model.kind;
        let kind_changed = old.model.kind.name() != kind.name();
        // SQLMesh never makes seeds or kind changes forward-only; a view holds no data worth
        // keeping, so Sluice rebuilds it rather than let a new query replace it in place.
        let forward_only = (self.options.forward_only || kind.forward_only())
            && !kind_changed
            && !matches!(kind, ModelKind::Seed { .. } | ModelKind::View);
        let parent_categories: Vec<Category> = parent_keys
            .iter()
            .filter_map(|p| self.categories.get(p).copied())
            .collect();
        let data_changed = old.fingerprint.data_hash != fp.data_hash;
        let own_change = data_changed || old.fingerprint.metadata_hash != fp.metadata_hash;
        let direct = if data_changed {
            let old_node = super::node_of(old)?;
            Some(categorize_direct(
                &old_node,
                &old.fingerprint.data_hash,
                node,
                &fp.data_hash,
            ))
        } else if own_change {
            Some(Category::Metadata)
        } else {
            None
        };
        let reuse = old.version.clone();
        // A view is cheap and reads its parents' tables by name: it gets a table of its own
        // whenever a parent's does, so it never keeps reading a parent's old table.
        let reuse_or_view = if matches!(kind, ModelKind::View) {
            fresh.clone()
        } else {
            reuse.clone()
        };
        let decided = match (direct, categorize_indirect(&parent_categories)) {
            // An edit that changes data keeps its own category (SQLMesh: a non-breaking edit
            // below a breaking parent stays non-breaking).
            (Some(c @ (Category::Breaking | Category::NonBreaking)), _) => {
                if forward_only {
                    (ChangeType::DirectlyModified, Category::ForwardOnly, reuse)
                } else {
                    (ChangeType::DirectlyModified, c, fresh)
                }
            }
            (Some(_) | None, Some(Category::IndirectBreaking)) => {
                if forward_only {
                    (ChangeType::IndirectlyModified, Category::ForwardOnly, reuse)
                } else {
                    (
                        ChangeType::IndirectlyModified,
                        Category::IndirectBreaking,
                        fresh,
                    )
                }
            }
            (Some(_), _) => (
                ChangeType::MetadataUpdated,
                Category::Metadata,
                reuse_or_view,
            ),
            (None, Some(Category::IndirectNonBreaking)) => {
                let category = if forward_only {
                    Category::ForwardOnly
                } else {
                    Category::IndirectNonBreaking
                };
                (ChangeType::IndirectlyModified, category, reuse_or_view)
            }
            // Only parents' metadata changed: a new snapshot on the same table, which SQLMesh
            // does not list as a change.
            (None, _) => return Ok((None, Some(Category::Metadata), reuse_or_view)),
        };
        Ok((Some(decided.0), Some(decided.1), decided.2))
    }

    /// The table a changed (or new) model uses in this environment: its version, or in a
    /// non-prod environment a dev table when it is forward-only or reads a dev table.
    fn table_version(
        &self,
        fp: &Fingerprint,
        category: Option<Category>,
        version: &str,
        parent_keys: &[String],
    ) -> String {
        if is_prod(&self.options.environment) {
            return version.to_string();
        }
        let reads_dev_table = parent_keys
            .iter()
            .any(|p| self.tables[p].ends_with(DEV_SUFFIX));
        if category != Some(Category::ForwardOnly) && !reads_dev_table {
            return version.to_string();
        }
        let parent_tables: Vec<&str> = parent_keys
            .iter()
            .map(|p| self.tables[p].as_str())
            .collect();
        format!(
            "{}{DEV_SUFFIX}",
            fresh_version(&fp.data_hash, &parent_tables)
        )
    }
}

/// A change entry for the plan's change list.
pub fn change_of(
    snapshot: &Snapshot,
    table_version: &str,
    change: ChangeType,
    category: Option<Category>,
) -> Change {
    Change {
        model: snapshot.model.name.clone(),
        change,
        category,
        kind: snapshot.model.kind.name().to_string(),
        version: table_version.to_string(),
        table: crate::snapshot::PhysicalTable::new(&snapshot.model.name, table_version).to_string(),
        backfill: Vec::new(),
    }
}
