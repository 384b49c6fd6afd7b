//! How an environment's views move to a new release, schema by schema.
//!
//! On PostgreSQL a schema whose every object is one of the environment's views is *swapped*:
//! its new views are built ahead, in a stage schema nobody reads, and the flip itself is two
//! `ALTER SCHEMA ... RENAME`s per schema. Before renaming, the flip locks the old views whose
//! data changes (another table behind them, or gone): a reader already inside one finishes on
//! the release it started with, and one arriving meanwhile waits at most the flip's
//! `lock_timeout` and then reads the new release — which is what keeps a query from seeing a
//! mix. A view whose table stays the same (only its grants change, or another view of its
//! schema) reads the same rows before and after, so it is renamed with its schema unlocked:
//! the locks grow with what the release changes, not with the size of the environment. A schema that holds anything else (a user's table, a view
//! Sluice does not manage, something depending on it from outside) is changed *in place*, view
//! by view, as DuckDB always is.

use std::collections::{BTreeMap, BTreeSet};

use sluice_engine::fingerprint::short_hash;
use sluice_engine::model::Dialect;
use sluice_engine::snapshot::{SnapshotRef, environment_view, quote_ident, quote_literal};

use super::acl::{self, Privilege};
use super::{view_ddl, view_statements};
use crate::warehouse::{Warehouse, WarehouseError};

/// Prefixes of the schemas a flip works in; the janitor removes leftovers of both.
pub const STAGE_PREFIX: &str = "sluice_next__";
pub const RETIRED_PREFIX: &str = "sluice_prev__";

/// One schema of the environment that the flip changes.
#[derive(Debug, Clone)]
pub(super) struct SchemaFlip {
    pub schema: String,
    /// The environment's snapshots with a view in this schema, before and after.
    pub old: Vec<SnapshotRef>,
    pub new: Vec<SnapshotRef>,
    /// `Some` when the schema is swapped whole.
    pub stage: Option<Stage>,
}

/// The schemas a swap goes through, and the privileges it carried when preparing.
#[derive(Debug, Clone)]
pub(super) struct Stage {
    /// Where the new views are built: renamed to the schema at the flip.
    pub next: String,
    /// What the old schema is renamed to, and dropped after the commit.
    pub retired: String,
    /// Whether the schema exists now (if not, the stage is simply renamed into place).
    pub exists: bool,
    /// The old views' privileges when the stage was built; compared again before the flip.
    pub carried: BTreeSet<Privilege>,
}

impl SchemaFlip {
    fn views(refs: &[SnapshotRef], environment: &str) -> BTreeMap<String, SnapshotRef> {
        refs.iter()
            .map(|r| (environment_view(environment, &r.name).1, r.clone()))
            .collect()
    }

    /// Views of the schema whose rows change at the flip (their table is another or they are
    /// gone), as (schema, view): the only ones a reader could see a mix through.
    pub fn changing_views(&self, environment: &str) -> Vec<(String, String)> {
        let new = Self::views(&self.new, environment);
        Self::views(&self.old, environment)
            .into_iter()
            .filter(|(view, old)| {
                new.get(view)
                    .is_none_or(|new| new.table().quoted() != old.table().quoted())
            })
            .map(|(view, _)| (self.schema.clone(), view))
            .collect()
    }

    /// Views of the schema after the flip (in the stage when swapped), as `"schema"."view"`.
    pub fn new_views(&self, environment: &str) -> Vec<String> {
        let schema = self.stage.as_ref().map_or(&self.schema, |s| &s.next);
        Self::views(&self.new, environment)
            .into_keys()
            .map(|v| format!("{}.{}", quote_ident(schema), quote_ident(&v)))
            .collect()
    }
}

/// The schemas whose views change between `old` and `new` (a new snapshot, a view added or
/// removed, different declared grants).
pub(super) fn changed_schemas(
    environment: &str,
    old: &[SnapshotRef],
    new: &[SnapshotRef],
) -> Vec<SchemaFlip> {
    let mut by_schema: BTreeMap<String, (Vec<SnapshotRef>, Vec<SnapshotRef>)> = BTreeMap::new();
    for r in old.iter().filter(|r| !r.is_symbolic()) {
        let schema = environment_view(environment, &r.name).0;
        by_schema.entry(schema).or_default().0.push(r.clone());
    }
    for r in new.iter().filter(|r| !r.is_symbolic()) {
        let schema = environment_view(environment, &r.name).0;
        by_schema.entry(schema).or_default().1.push(r.clone());
    }
    by_schema
        .into_iter()
        .filter(|(_, (old, new))| {
            let key = |refs: &Vec<SnapshotRef>| -> BTreeMap<String, SnapshotRef> {
                refs.iter().map(|r| (r.name.clone(), r.clone())).collect()
            };
            key(old) != key(new)
        })
        .map(|(schema, (old, new))| SchemaFlip {
            schema,
            old,
            new,
            stage: None,
        })
        .collect()
}

/// Decides which schemas are swapped (PostgreSQL only; see the module documentation) and
/// names their stage schemas after what they will hold, so a retried flip finds its own.
pub(super) fn choose_swaps(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    flips: &mut [SchemaFlip],
) -> Result<(), WarehouseError> {
    if warehouse.dialect() != Dialect::Postgres || flips.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = flips.iter().map(|f| quote_literal(&f.schema)).collect();
    let rows = warehouse.query(&format!(
        "SELECT n.nspname, n.nspowner = me.oid, \
           (SELECT count(*) FROM pg_class c WHERE c.relnamespace = n.oid \
              AND (c.relkind <> 'v' OR c.relowner <> me.oid)), \
           (SELECT count(*) FROM pg_depend d WHERE d.refclassid = 'pg_namespace'::regclass \
              AND d.refobjid = n.oid AND d.classid <> 'pg_class'::regclass), \
           (SELECT count(*) FROM pg_depend d \
              JOIN pg_rewrite w ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid \
              JOIN pg_class reader ON reader.oid = w.ev_class \
              JOIN pg_class c ON d.refclassid = 'pg_class'::regclass AND c.oid = d.refobjid \
              WHERE c.relnamespace = n.oid AND reader.relnamespace <> n.oid), \
           (SELECT count(*) FROM pg_default_acl a WHERE a.defaclnamespace = n.oid \
              AND (a.defaclrole <> me.oid OR a.defaclobjtype <> 'r')), \
           coalesce((SELECT json_agg(c.relname)::text FROM pg_class c \
              WHERE c.relnamespace = n.oid AND c.relkind = 'v'), '[]') \
         FROM pg_namespace n, pg_roles me \
         WHERE me.rolname = current_user AND n.nspname IN ({})",
        names.join(", ")
    ))?;
    let mut existing: BTreeMap<String, bool> = BTreeMap::new();
    for row in rows {
        let text = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        let views: BTreeSet<String> = serde_json::from_str(&text(6)).unwrap_or_default();
        let Some(flip) = flips.iter().find(|f| f.schema == text(0)) else {
            continue;
        };
        let managed: BTreeSet<String> = SchemaFlip::views(&flip.old, environment)
            .into_keys()
            .collect();
        let only_ours =
            text(1) == "t" && (2..=5).all(|i| text(i) == "0") && views.is_subset(&managed);
        existing.insert(text(0), only_ours);
    }
    for flip in flips.iter_mut() {
        let exists = existing.contains_key(&flip.schema);
        if exists && !existing[&flip.schema] {
            continue;
        }
        let content: Vec<String> = flip
            .new
            .iter()
            .map(|r| format!("{}={}:{:?}", r.name, r.table().quoted(), r.view_grants()))
            .collect();
        let hash = short_hash(&[environment, &flip.schema, &content.join("\n")]);
        flip.stage = Some(Stage {
            next: format!("{STAGE_PREFIX}{hash}"),
            retired: format!("{RETIRED_PREFIX}{hash}"),
            exists,
            carried: BTreeSet::new(),
        });
    }
    Ok(())
}

/// Builds every swapped schema's stage, in its own transaction (committed: readers never see
/// it, and a crash leaves only a stage that the next attempt or the janitor removes).
pub(super) fn prepare_stages(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    flips: &mut [SchemaFlip],
    now: i64,
    comment: &str,
) -> Result<(), WarehouseError> {
    if flips.iter().all(|f| f.stage.is_none()) {
        return Ok(());
    }
    warehouse.begin()?;
    let result = (|| {
        for flip in flips.iter_mut() {
            let Some(stage) = flip.stage.as_mut() else {
                continue;
            };
            let mut sql = vec![
                format!("DROP SCHEMA IF EXISTS {} CASCADE", quote_ident(&stage.next)),
                format!("CREATE SCHEMA {}", quote_ident(&stage.next)),
                format!(
                    "COMMENT ON SCHEMA {} IS {}",
                    quote_ident(&stage.next),
                    quote_literal(&format!(
                        "sluice: the next views of schema {} of environment {environment}, \
                         built at {now}; renamed into place by the flip",
                        flip.schema
                    ))
                ),
            ];
            if stage.exists {
                sql.extend(acl::schema_privileges(
                    warehouse,
                    &flip.schema,
                    &stage.next,
                )?);
                let before = acl::declared(environment, &flip.old);
                stage.carried = acl::carried(warehouse, &flip.schema, &before)?;
            }
            for (view, r) in SchemaFlip::views(&flip.new, environment) {
                sql.push(format!(
                    "CREATE VIEW {}.{} AS SELECT * FROM {}",
                    quote_ident(&stage.next),
                    quote_ident(&view),
                    r.table().quoted()
                ));
            }
            let declared = acl::declared(environment, &flip.new);
            let carried = kept_views(&stage.carried, &flip.new, environment);
            sql.extend(acl::statements(&stage.next, &carried, true));
            sql.extend(acl::statements(&stage.next, &declared, true));
            sql.extend(acl::usage_statements(&stage.next, &declared));
            sql.extend(super::evidence::comment_statements(
                warehouse,
                &flip.new_views(environment),
                comment,
            ));
            super::execute_batched(warehouse, &sql, None)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => warehouse.commit(),
        Err(e) => {
            let _ = warehouse.rollback();
            Err(e)
        }
    }
}

/// The carried privileges whose view is still there after the flip.
fn kept_views(
    carried: &BTreeSet<Privilege>,
    new: &[SnapshotRef],
    environment: &str,
) -> BTreeSet<Privilege> {
    let views = SchemaFlip::views(new, environment);
    carried
        .iter()
        .filter(|p| views.contains_key(&p.view))
        .cloned()
        .collect()
}

/// What the new views of each swapped schema were given of the privileges others held on the
/// old ones (beyond what the releases declare), by schema.
pub(super) type Carried = BTreeMap<String, BTreeSet<Privilege>>;

/// The swapped schemas' part of the flip: the locks on the old views whose rows change, then
/// the renames. Prepared inside the flip's transaction before the first lock is taken.
pub(super) struct Swap {
    statements: Vec<String>,
    /// Where the flip's `midway` falls: after the locks and half the renames.
    half: usize,
    pub carried: Carried,
}

impl Swap {
    /// Brings to the stages the privileges granted on (or revoked from) the old views since the
    /// stages were built (the flip may have waited minutes for a reader), then builds the
    /// statements: for 10,000 views, building them takes longer than the renames themselves,
    /// and reading the privileges under the locks would make readers wait for that too.
    pub fn prepare(
        warehouse: &mut dyn Warehouse,
        environment: &str,
        flips: &[SchemaFlip],
    ) -> Result<Swap, WarehouseError> {
        let swapped = swapped(flips);
        let carried = held_privileges(warehouse, environment, &swapped, false)?;
        let mut adjust = Vec::new();
        for (flip, stage) in &swapped {
            let built = kept_views(&stage.carried, &flip.new, environment);
            adjust.extend(privilege_changes(
                &stage.next,
                &built,
                &carried[&flip.schema],
            ));
        }
        super::execute_batched(warehouse, &adjust, None)?;
        let flipped: Vec<&SchemaFlip> = swapped.iter().map(|(f, _)| *f).collect();
        let mut statements = exclusive_locks(environment, &flipped);
        let locks = statements.len();
        for flip in flips {
            let Some(stage) = &flip.stage else {
                continue;
            };
            if stage.exists {
                statements.push(format!(
                    "ALTER SCHEMA {} RENAME TO {}",
                    quote_ident(&flip.schema),
                    quote_ident(&stage.retired)
                ));
            }
            statements.push(format!(
                "ALTER SCHEMA {} RENAME TO {}",
                quote_ident(&stage.next),
                quote_ident(&flip.schema)
            ));
        }
        let half = locks + (statements.len() - locks) / 2;
        Ok(Swap {
            statements,
            half,
            carried,
        })
    }
}

/// The swapped schemas that exist now, with their stages.
fn swapped(flips: &[SchemaFlip]) -> Vec<(&SchemaFlip, &Stage)> {
    flips
        .iter()
        .filter_map(|f| Some((f, f.stage.as_ref().filter(|s| s.exists)?)))
        .collect()
}

/// The privileges others hold on the old views of each swapped schema (in the schema itself,
/// or in its retired name after the flip), minus what the old release declared, on the views
/// the new release keeps; keyed by the environment's schema.
fn held_privileges(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    swapped: &[(&SchemaFlip, &Stage)],
    retired: bool,
) -> Result<Carried, WarehouseError> {
    let found_in = |flip: &SchemaFlip, stage: &Stage| -> String {
        if retired {
            stage.retired.clone()
        } else {
            flip.schema.clone()
        }
    };
    let schemas: Vec<String> = swapped.iter().map(|(f, s)| found_in(f, s)).collect();
    let schemas: Vec<&str> = schemas.iter().map(String::as_str).collect();
    let mut held = acl::carried_in(warehouse, &schemas)?;
    Ok(swapped
        .iter()
        .map(|(flip, stage)| {
            let before = acl::declared(environment, &flip.old);
            let found = held.remove(&found_in(flip, stage)).unwrap_or_default();
            let now = acl::without_declared(found, &before);
            (
                flip.schema.clone(),
                kept_views(&now, &flip.new, environment),
            )
        })
        .collect())
}

/// The `REVOKE`s and `GRANT`s that take the views of `schema` from `from` to `to`.
fn privilege_changes(
    schema: &str,
    from: &BTreeSet<Privilege>,
    to: &BTreeSet<Privilege>,
) -> Vec<String> {
    let revoke: BTreeSet<_> = from.difference(to).cloned().collect();
    let grant: BTreeSet<_> = to.difference(from).cloned().collect();
    let mut sql = acl::statements(schema, &revoke, false);
    sql.extend(acl::statements(schema, &grant, true));
    sql
}

/// The flip's reader-visible part, inside the caller's transaction: runs the prepared `swap`
/// and changes the other schemas in place (with their privileges carried). `midway` is reached
/// between the two halves.
pub(super) fn swap(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    flips: &[SchemaFlip],
    swap: &Swap,
    midway: &dyn Fn(),
) -> Result<(), WarehouseError> {
    if !warehouse.atomic_flip() {
        return swap_per_view(warehouse, environment, flips, midway);
    }
    let (first, second) = swap.statements.split_at(swap.half);
    if !first.is_empty() {
        warehouse.execute(&first.join(";\n"))?;
    }
    midway();
    if !second.is_empty() {
        warehouse.execute(&second.join(";\n"))?;
    }
    for flip in flips.iter().filter(|f| f.stage.is_none()) {
        change_in_place(warehouse, environment, flip)?;
    }
    Ok(())
}

/// Statements taking `ACCESS EXCLUSIVE` on the changing views of `flips`, and on nothing else.
/// `LOCK TABLE` on a view also locks every table behind it, which doubles the locks (each one
/// costs PostgreSQL a pass over every backend's fast-path slots: 10,000 views took 115 ms
/// instead of 68) and would block readers of other environments' views on the same tables.
/// `ALTER VIEW ... OWNER TO CURRENT_USER` on a view the flip's role already owns (every view
/// of a swapped schema, see [`choose_swaps`]) changes nothing and locks only that view.
fn exclusive_locks(environment: &str, flips: &[&SchemaFlip]) -> Vec<String> {
    flips
        .iter()
        .flat_map(|f| f.changing_views(environment))
        .map(|(schema, view)| {
            format!(
                "ALTER VIEW {}.{} OWNER TO CURRENT_USER",
                quote_ident(&schema),
                quote_ident(&view)
            )
        })
        .collect()
}

/// After the commit: privileges granted on (or revoked from) the old views between the
/// privileges being read ([`Swap::prepare`]) and the commit are brought to the live views. They
/// are read from the retired schemas, which keep the old views until dropped (PostgreSQL's
/// `GRANT` takes no lock on the view, so the flip's locks would not have kept them out).
pub(super) fn carry_late_privileges(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    flips: &[SchemaFlip],
    carried: &Carried,
) -> Result<(), WarehouseError> {
    let swapped = swapped(flips);
    let now = held_privileges(warehouse, environment, &swapped, true)?;
    let none = BTreeSet::new();
    let mut sql = Vec::new();
    for (flip, _) in &swapped {
        let given = carried.get(&flip.schema).unwrap_or(&none);
        sql.extend(privilege_changes(&flip.schema, given, &now[&flip.schema]));
    }
    if sql.is_empty() {
        return Ok(());
    }
    warehouse.begin()?;
    match super::execute_batched(warehouse, &sql, None) {
        Ok(()) => warehouse.commit(),
        Err(e) => {
            let _ = warehouse.rollback();
            Err(e)
        }
    }
}

/// The flip on a warehouse without transactions: each view replaced on its own (`CREATE OR
/// REPLACE VIEW`, atomic per view), all of them in two round trips with `midway` between.
/// Readers can see some views of each release meanwhile; the caller recorded the flip first,
/// so a crash between the two is put right by the next attempt.
fn swap_per_view(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    flips: &[SchemaFlip],
    midway: &dyn Fn(),
) -> Result<(), WarehouseError> {
    let sql: Vec<String> = flips
        .iter()
        .flat_map(|f| view_ddl(environment, &f.old, &f.new, true))
        .collect();
    let (first, second) = sql.split_at(sql.len() / 2);
    warehouse.execute(&first.join(";\n"))?;
    midway();
    warehouse.execute(&second.join(";\n"))
}

/// `LOCK TABLE ... IN ACCESS SHARE MODE` statements (a few hundred views each) for the
/// changing views of `flips`.
fn share_lock_statements(environment: &str, flips: &[&SchemaFlip]) -> Vec<String> {
    flips
        .iter()
        .flat_map(|f| f.changing_views(environment))
        .map(|(schema, view)| format!("{}.{}", quote_ident(&schema), quote_ident(&view)))
        .collect::<Vec<_>>()
        .chunks(500)
        .map(|views| format!("LOCK TABLE {} IN ACCESS SHARE MODE", views.join(", ")))
        .collect()
}

/// Opens, in a short transaction of its own, the views the flip will lock, so that locking
/// them later does not include reading their definitions from the catalog (which would be paid
/// while readers wait). `ACCESS SHARE` blocks no reader; a failure only means the flip pays
/// that cost itself.
pub(super) fn warm_up(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    flips: &[SchemaFlip],
    lock_timeout: &str,
) {
    let swapped: Vec<&SchemaFlip> = swapped(flips).into_iter().map(|(f, _)| f).collect();
    let locks = share_lock_statements(environment, &swapped);
    if locks.is_empty() {
        return;
    }
    let sql = format!("BEGIN; {lock_timeout}; {}; COMMIT", locks.join(";\n"));
    if warehouse.execute(&sql).is_err() {
        let _ = warehouse.rollback();
    }
}

/// A schema changed view by view: replaced views get the privileges their old selves had.
fn change_in_place(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    flip: &SchemaFlip,
) -> Result<(), WarehouseError> {
    let postgres = warehouse.dialect() == Dialect::Postgres;
    let carried = if postgres {
        let before = acl::declared(environment, &flip.old);
        acl::carried(warehouse, &flip.schema, &before)?
    } else {
        BTreeSet::new()
    };
    let mut sql = view_statements(environment, &flip.old, &flip.new);
    if postgres {
        let old = SchemaFlip::views(&flip.old, environment);
        let replaced: BTreeSet<String> = SchemaFlip::views(&flip.new, environment)
            .into_iter()
            .filter(|(view, r)| old.get(view) != Some(r))
            .map(|(view, _)| view)
            .collect();
        let restore: BTreeSet<Privilege> = kept_views(&carried, &flip.new, environment)
            .into_iter()
            .filter(|p| replaced.contains(&p.view))
            .collect();
        let declared = acl::declared(environment, &flip.new);
        sql.extend(acl::statements(&flip.schema, &restore, true));
        sql.extend(acl::statements(&flip.schema, &declared, true));
        sql.extend(acl::usage_statements(&flip.schema, &declared));
    }
    super::execute_batched(warehouse, &sql, None)
}

/// Drops what a flip leaves behind: the retired schemas after a commit, the stages after a
/// flip that gave up. Waits at most `lock_timeout` for each (a reader still inside a retired
/// view keeps it); what cannot be dropped now is left for the janitor.
pub(super) fn drop_schemas(
    warehouse: &mut dyn Warehouse,
    schemas: &[&str],
    lock_timeout: &str,
) -> Vec<String> {
    let mut left = Vec::new();
    for schema in schemas {
        let sql = format!(
            "BEGIN; {lock_timeout}; DROP SCHEMA IF EXISTS {} CASCADE; COMMIT",
            quote_ident(schema)
        );
        if warehouse.execute(&sql).is_err() {
            let _ = warehouse.rollback();
            left.push(schema.to_string());
        }
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, fingerprint: &str) -> SnapshotRef {
        SnapshotRef {
            name: name.into(),
            fingerprint: fingerprint.into(),
            version: fingerprint.into(),
            kind: "FULL".into(),
            grants: Default::default(),
            grants_target_layer: Default::default(),
        }
    }

    #[test]
    fn only_schemas_whose_views_change_are_flipped() {
        let old = vec![r("stg.a", "1"), r("stg.b", "1"), r("mart.c", "1")];
        let new = vec![
            r("stg.a", "1"),
            r("stg.b", "2"),
            r("mart.c", "1"),
            r("raw.d", "1"),
        ];
        let flips = changed_schemas("prod", &old, &new);
        let names: Vec<&str> = flips.iter().map(|f| f.schema.as_str()).collect();
        assert_eq!(names, ["raw", "stg"]);
        let dev = changed_schemas("dev", &old, &[]);
        let names: Vec<&str> = dev.iter().map(|f| f.schema.as_str()).collect();
        assert_eq!(names, ["mart__dev", "stg__dev"]);
    }
}
