//! What a plan does to each data product: which exposed models change and how (category,
//! columns added, removed or retyped where the models say), who reads them, whether the
//! product's meaning changes, what the backfill costs, and where a rollback would return.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use sqlparser::ast::{Expr, SelectItem, SetExpr};

use super::{ChangeType, Plan};
use crate::model::model_key;
use crate::products::{Consumer, Owners, Product, SchemaPromise};
use crate::snapshot::{Category, Snapshot};

/// The plan's effect on every product it touches, and the classifications it touches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Impact {
    #[serde(default)]
    pub products: Vec<ProductImpact>,
    /// Tag → the changed models carrying it (by their own tags or by a product's
    /// classification). An Environment's policy names the tags whose changes need approvers.
    #[serde(default)]
    pub classifications: BTreeMap<String, Vec<String>>,
}

impl Impact {
    pub fn is_empty(&self) -> bool {
        self.products.is_empty() && self.classifications.is_empty()
    }

    pub fn meaning_changes(&self) -> impl Iterator<Item = &ProductImpact> {
        self.products.iter().filter(|p| p.meaning_change)
    }
}

/// One product a plan touches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductImpact {
    pub product: String,
    #[serde(default)]
    pub owners: Owners,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classification: Vec<String>,
    /// The exposed models that change.
    pub models: Vec<ModelImpact>,
    /// Everyone downstream who should hear about it.
    #[serde(default)]
    pub consumers: Vec<Consumer>,
    /// A breaking change, a removed model or a removed or retyped column under a stable-schema
    /// promise: the product's owners must approve.
    pub meaning_change: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    pub backfill: BackfillCost,
    /// The release a rollback would return the environment to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_target: Option<String>,
}

/// One exposed model's change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelImpact {
    pub model: String,
    pub change: ChangeType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    /// `None`: the columns cannot be told from the models (a `SELECT *`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<ColumnChanges>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnChanges {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retyped: Vec<Retyped>,
}

impl ColumnChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.retyped.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retyped {
    pub column: String,
    pub from: String,
    pub to: String,
}

/// What the backfill behind a product costs: the models (exposed, or upstream of them) with
/// batches to compute, and estimates from earlier runs of the same models.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackfillCost {
    #[serde(default)]
    pub models: Vec<String>,
    pub intervals: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_rows: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_seconds: Option<f64>,
}

/// What earlier batches of a model took: summed over the batches recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// Total span of the batches (ms).
    pub span_ms: i64,
    /// Rows they produced (`None` when not counted).
    pub rows: Option<u64>,
    pub millis: i64,
}

impl RunStats {
    fn scaled(&self, span_ms: i64) -> (Option<f64>, f64) {
        if self.span_ms <= 0 {
            return (None, 0.0);
        }
        let factor = span_ms as f64 / self.span_ms as f64;
        (
            self.rows.map(|r| r as f64 * factor),
            self.millis as f64 * factor / 1000.0,
        )
    }
}

/// Computes the impact of `plan` on `products`. `old`: the snapshots the environment points
/// at now (for column differences); `stats`: earlier runs by model key.
pub fn impact(
    products: &[Product],
    plan: &Plan,
    old: &[Snapshot],
    stats: &HashMap<String, RunStats>,
) -> Impact {
    let new_by_key: HashMap<String, &Snapshot> = plan
        .snapshots
        .iter()
        .map(|s| (model_key(&s.model.name), s))
        .collect();
    let old_by_key: HashMap<String, &Snapshot> =
        old.iter().map(|s| (model_key(&s.model.name), s)).collect();
    // Only an environment that exists has a release to roll back to.
    let rollback_target = plan
        .basis
        .base_revision
        .and(plan.basis.base_release.clone());
    let mut out = Impact::default();
    for change in plan
        .basis
        .changes
        .iter()
        .filter(|c| touches_data(c.change, c.category))
    {
        let key = model_key(&change.model);
        let tags = new_by_key
            .get(&key)
            .or_else(|| old_by_key.get(&key))
            .map(|s| s.model.tags.clone())
            .unwrap_or_default();
        let classes = products
            .iter()
            .filter(|p| p.exposes(&change.model))
            .flat_map(|p| p.classification.iter().cloned());
        for tag in tags.into_iter().chain(classes) {
            let models = out.classifications.entry(tag.to_lowercase()).or_default();
            if !models.contains(&change.model) {
                models.push(change.model.clone());
            }
        }
    }
    for product in products {
        let changed: Vec<ModelImpact> = plan
            .basis
            .changes
            .iter()
            .filter(|c| product.exposes(&c.model))
            .map(|c| {
                let key = model_key(&c.model);
                let columns = match (old_by_key.get(&key), new_by_key.get(&key)) {
                    (Some(old), Some(new)) => column_changes(old, new),
                    (Some(old), None) => output_columns(old).map(|cols| ColumnChanges {
                        removed: cols.into_iter().map(|(n, _)| n).collect(),
                        ..Default::default()
                    }),
                    (None, Some(new)) => output_columns(new).map(|cols| ColumnChanges {
                        added: cols.into_iter().map(|(n, _)| n).collect(),
                        ..Default::default()
                    }),
                    (None, None) => None,
                };
                ModelImpact {
                    model: c.model.clone(),
                    change: c.change,
                    category: c.category,
                    columns,
                }
            })
            .collect();
        if changed.is_empty() {
            continue;
        }
        let reasons = if product.promises.schema == SchemaPromise::Stable {
            changed.iter().filter_map(meaning_reason).collect()
        } else {
            Vec::new()
        };
        out.products.push(ProductImpact {
            product: product.name.clone(),
            owners: product.owners.clone(),
            classification: product.classification.clone(),
            consumers: product.consumers.clone(),
            meaning_change: !reasons.is_empty(),
            reasons,
            backfill: backfill_cost(product, plan, stats),
            rollback_target: rollback_target.clone(),
            models: changed,
        });
    }
    out
}

/// Whether a change alters data (not a metadata-only or reused-table change).
fn touches_data(change: ChangeType, category: Option<Category>) -> bool {
    match change {
        ChangeType::Added | ChangeType::Removed => true,
        ChangeType::MetadataUpdated => false,
        _ => !matches!(
            category,
            Some(Category::Metadata | Category::IndirectNonBreaking)
        ),
    }
}

fn meaning_reason(m: &ModelImpact) -> Option<String> {
    // A new model changes no promise anyone relied on.
    if m.change == ChangeType::Added {
        return None;
    }
    if m.change == ChangeType::Removed {
        return Some(format!("{} is removed", m.model));
    }
    let columns = m.columns.clone().unwrap_or_default();
    let mut lost: Vec<String> = columns.removed.clone();
    lost.extend(
        columns
            .retyped
            .iter()
            .map(|r| format!("{} {} -> {}", r.column, r.from, r.to)),
    );
    let lost = if lost.is_empty() {
        String::new()
    } else {
        format!(" (columns removed or retyped: {})", lost.join(", "))
    };
    match m.category {
        Some(Category::Breaking) => Some(format!("{}: breaking change{lost}", m.model)),
        Some(Category::IndirectBreaking) => Some(format!(
            "{}: breaking change upstream (indirect breaking){lost}",
            m.model
        )),
        _ if !lost.is_empty() => Some(format!("{}:{lost}", m.model)),
        _ => None,
    }
}

/// The backfill of the product's models and of everything upstream of them in the plan.
fn backfill_cost(
    product: &Product,
    plan: &Plan,
    stats: &HashMap<String, RunStats>,
) -> BackfillCost {
    let parents: HashMap<String, &Vec<String>> = plan
        .snapshots
        .iter()
        .map(|s| (model_key(&s.model.name), &s.parents))
        .collect();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    let mut frontier: Vec<String> = product.models.iter().map(|m| model_key(m)).collect();
    while let Some(key) = frontier.pop() {
        if wanted.insert(key.clone()) {
            frontier.extend(
                parents
                    .get(&key)
                    .into_iter()
                    .copied()
                    .flatten()
                    .map(|p| model_key(p)),
            );
        }
    }
    let mut cost = BackfillCost::default();
    let (mut rows, mut seconds, mut known) = (0.0, 0.0, true);
    let mut rows_known = true;
    for b in plan
        .backfill
        .iter()
        .filter(|b| !b.batches.is_empty() && wanted.contains(&model_key(&b.model)))
    {
        cost.models.push(b.model.clone());
        cost.intervals += b.batches.len() as u32;
        let span: i64 = b.batches.iter().map(|i| i.end - i.start).sum();
        match stats.get(&model_key(&b.model)) {
            Some(s) if s.span_ms > 0 => {
                let (r, secs) = s.scaled(span);
                seconds += secs;
                match r {
                    Some(r) => rows += r,
                    None => rows_known = false,
                }
            }
            _ => known = false,
        }
    }
    if known && !cost.models.is_empty() {
        cost.estimated_seconds = Some((seconds * 10.0).round() / 10.0);
        if rows_known {
            cost.estimated_rows = Some(rows.round() as u64);
        }
    }
    cost
}

fn column_changes(old: &Snapshot, new: &Snapshot) -> Option<ColumnChanges> {
    let before = output_columns(old)?;
    let after = output_columns(new)?;
    let before_map: BTreeMap<&str, &Option<String>> =
        before.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let after_map: BTreeMap<&str, &Option<String>> =
        after.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut changes = ColumnChanges {
        added: after
            .iter()
            .filter(|(n, _)| !before_map.contains_key(n.as_str()))
            .map(|(n, _)| n.clone())
            .collect(),
        removed: before
            .iter()
            .filter(|(n, _)| !after_map.contains_key(n.as_str()))
            .map(|(n, _)| n.clone())
            .collect(),
        retyped: Vec::new(),
    };
    for (name, new_type) in &after {
        if let Some(Some(old_type)) = before_map.get(name.as_str())
            && let Some(new_type) = new_type
            && !old_type.eq_ignore_ascii_case(new_type)
        {
            changes.retyped.push(Retyped {
                column: name.clone(),
                from: old_type.clone(),
                to: new_type.clone(),
            });
        }
    }
    Some(changes)
}

/// A model's output columns (lower-cased) and their declared types: the `columns` property,
/// else the names of the outer query's projections. `None` when they cannot be told.
fn output_columns(snapshot: &Snapshot) -> Option<Vec<(String, Option<String>)>> {
    let model = &snapshot.model;
    if !model.columns.is_empty() {
        return Some(
            model
                .columns
                .iter()
                .map(|(n, t)| (n.to_lowercase(), Some(t.clone())))
                .collect(),
        );
    }
    let (query, _) = crate::sql::parse_query_ast(model.query.as_deref()?, model.dialect, 1).ok()?;
    let mut body = query.body.as_ref();
    loop {
        match body {
            SetExpr::Select(select) => {
                return select
                    .projection
                    .iter()
                    .map(|item| projection_name(item).map(|n| (n, None)))
                    .collect();
            }
            SetExpr::SetOperation { left, .. } => body = left.as_ref(),
            SetExpr::Query(q) => body = q.body.as_ref(),
            _ => return None,
        }
    }
}

fn projection_name(item: &SelectItem) -> Option<String> {
    match item {
        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_lowercase()),
        SelectItem::UnnamedExpr(Expr::Identifier(ident)) => Some(ident.value.to_lowercase()),
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
            parts.last().map(|p| p.value.to_lowercase())
        }
        _ => None,
    }
}
