//! Promotion: pointing an environment's views at a snapshot set, atomically.
//!
//! Every view swap of the environment, the environment record and the release record commit
//! in one transaction: a reader sees the old environment or the new one, never a mix. The
//! environment's revision is checked in the same transaction, so two promotions computed
//! against the same revision cannot both land.
//!
//! `evidence` gathers what the release records beyond itself (product checks, the evidence
//! document, the current-release row, view comments).

pub mod checks;
mod evidence;

use std::collections::{BTreeMap, BTreeSet};

use evidence::{comment_statements, plan_evidence, record_evidence, rollback_evidence};
use sluice_engine::evidence::{EvidenceInput, GateResult};
use sluice_engine::intervals::Interval;
use sluice_engine::model::Statements;
use sluice_engine::plan::PreparedPlan;
use sluice_engine::plan::is_prod;
use sluice_engine::snapshot::{
    Approval, AuditResult, EnvironmentRecord, Release, ReleaseKind, SnapshotRef, environment_view,
    quote_ident, quote_literal,
};

use crate::state::{StateError, StateStore, Tables};
use crate::warehouse::{Warehouse, WarehouseError};

pub use evidence::product_checks;

#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    #[error("promoting environment {environment:?}: {error}")]
    Warehouse {
        environment: String,
        error: WarehouseError,
    },
    #[error("janitor: {0}")]
    Janitor(WarehouseError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("{0}")]
    Refused(String),
    #[error(
        "cannot promote {environment:?}: these tables do not exist (never built, or dropped by \
         the janitor): {}", tables.join(", ")
    )]
    MissingTables {
        environment: String,
        tables: Vec<String>,
    },
    #[error(
        "plan {plan} for {environment:?} is not complete, so it cannot be promoted yet: {}",
        missing.join("; ")
    )]
    Incomplete {
        plan: String,
        environment: String,
        missing: Vec<String>,
    },
    #[error("plan {0} was never prepared in this warehouse (run its backfill first)")]
    UnknownPlan(String),
    #[error(
        "cannot promote {environment:?}: {}", gates.iter().map(|g| format!("gate {}: {}", g.name, g.message)).collect::<Vec<_>>().join("; ")
    )]
    Gates {
        environment: String,
        gates: Vec<GateResult>,
    },
}

/// What to promote.
#[derive(Debug, Clone)]
pub struct Promotion {
    pub environment: String,
    pub plan_id: String,
    pub digest: Option<String>,
    pub snapshots: Vec<SnapshotRef>,
    /// The revision the caller saw (`None`: the environment must not exist yet).
    pub expected_revision: Option<i64>,
    pub kind: ReleaseKind,
    pub restored_release: Option<String>,
    /// For rollbacks: the restored release's own base (see [`Release::base_release`]).
    pub rollback_base: Option<String>,
    pub audits: Vec<AuditResult>,
    pub statements: Statements,
    pub meta: PromoteMeta,
    /// What the release's evidence records beyond the release itself.
    pub evidence: EvidenceInput,
}

/// Who promotes, when, with whose approval, and for which request.
#[derive(Debug, Clone, Default)]
pub struct PromoteMeta {
    pub created_by: String,
    /// Seconds since the epoch.
    pub now: i64,
    /// Seconds after `now` when a non-prod environment expires (`None` = never).
    pub ttl: Option<i64>,
    pub approvals: Vec<Approval>,
    /// An idempotency key: promoting again with a key that already made a release returns
    /// that release and changes nothing (the operator uses the Promotion's uid).
    pub request_id: Option<String>,
    /// Gates the caller decided (approvals), recorded in the evidence.
    pub gates: Vec<GateResult>,
    /// When freshness is measured (epoch ms); default: `now`. `sluice apply` uses the plan's
    /// execution time, the operator the wall clock.
    pub at_ms: Option<i64>,
}

impl PromoteMeta {
    fn at_ms(&self) -> i64 {
        self.at_ms.unwrap_or(self.now * 1000)
    }
}

/// View statements sent to the warehouse at once during a flip.
const FLIP_BATCH: usize = 500;

/// Test hook: `SLUICE_FAILPOINT=<name>` aborts the process at that point, simulating a crash
/// (`kill -9`, node loss) in the middle of the work; `SLUICE_FAILPOINT=<name>:stop` freezes it
/// there instead (SIGSTOP), the first time it is reached, simulating a process that stalls and
/// wakes up later (`SIGCONT`).
pub fn failpoint(name: &str) {
    let Ok(wanted) = std::env::var("SLUICE_FAILPOINT") else {
        return;
    };
    if wanted == name {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
    static STOPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if wanted.strip_suffix(":stop") == Some(name)
        && !STOPPED.swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        eprintln!("failpoint {name}: stopping");
        // SAFETY: raising a signal on our own process.
        unsafe { libc::raise(libc::SIGSTOP) };
        eprintln!("failpoint {name}: continuing");
    }
}

/// The release id for a release number: `prod-r3`.
pub fn release_id(environment: &str, number: i64) -> String {
    format!("{environment}-r{number}")
}

/// Swaps the environment's views to `promotion.snapshots` and records environment and release,
/// all in one transaction. Returns the release.
pub fn promote(
    warehouse: &mut dyn Warehouse,
    promotion: Promotion,
) -> Result<Release, PromoteError> {
    let env = promotion.environment.clone();
    let wh_err = |error| PromoteError::Warehouse {
        environment: env.clone(),
        error,
    };
    warehouse.begin().map_err(wh_err)?;
    match promote_in_transaction(warehouse, &promotion) {
        Ok(release) => {
            warehouse.commit().map_err(wh_err)?;
            Ok(release)
        }
        Err(e) => {
            let _ = warehouse.rollback();
            Err(e)
        }
    }
}

fn promote_in_transaction(
    warehouse: &mut dyn Warehouse,
    p: &Promotion,
) -> Result<Release, PromoteError> {
    let wh_err = |error| PromoteError::Warehouse {
        environment: p.environment.clone(),
        error,
    };
    let mut state = StateStore::new(warehouse);
    if let Some(request) = &p.meta.request_id
        && let Some(done) = state.release_for_request(request)?
    {
        return Ok(done);
    }
    let previous = state.environment(&p.environment)?;
    let found = previous.as_ref().map(|e| e.revision);
    if found != p.expected_revision {
        return Err(StateError::Conflict {
            environment: p.environment.clone(),
            expected: p.expected_revision,
            found,
        }
        .into());
    }
    ensure_tables_exist(warehouse, &p.environment, &p.snapshots)?;
    let old_refs = previous
        .as_ref()
        .map(|e| e.snapshots.clone())
        .unwrap_or_default();
    let statements = view_statements(&p.environment, &old_refs, &p.snapshots);
    let (before, after) = expand_statements(&p.environment, &p.statements, &p.snapshots);
    for sql in &before {
        warehouse
            .execute(sql)
            .map_err(|e| statement_error(&p.environment, "before_all", e))?;
    }
    execute_batched(warehouse, &statements, Some("promote-midway")).map_err(wh_err)?;
    for sql in &after {
        warehouse
            .execute(sql)
            .map_err(|e| statement_error(&p.environment, "after_all", e))?;
    }
    let revision = found.unwrap_or(0) + 1;
    let mut state = StateStore::new(warehouse);
    let number = state.next_release_number(&p.environment)?;
    let previous_release = previous.as_ref().and_then(|e| e.release_id.clone());
    let release = Release {
        id: release_id(&p.environment, number),
        environment: p.environment.clone(),
        number,
        kind: p.kind,
        plan_id: p.plan_id.clone(),
        digest: p.digest.clone(),
        base_release: match p.kind {
            ReleaseKind::Promotion => previous_release.clone(),
            ReleaseKind::Rollback => p.rollback_base.clone(),
        },
        previous_release,
        previous: old_refs,
        snapshots: p.snapshots.clone(),
        restored_release: p.restored_release.clone(),
        audits: p.audits.clone(),
        approvals: p.meta.approvals.clone(),
        statements: p.statements.clone(),
        request_id: p.meta.request_id.clone(),
        created_by: p.meta.created_by.clone(),
        created_at: p.meta.now,
    };
    let record = EnvironmentRecord {
        name: p.environment.clone(),
        snapshots: p.snapshots.clone(),
        plan_id: p.plan_id.clone(),
        revision,
        release_id: Some(release.id.clone()),
        expires_at: p
            .meta
            .ttl
            .filter(|_| !is_prod(&p.environment))
            .map(|ttl| p.meta.now + ttl),
        updated_at: p.meta.now,
    };
    state.write_environment(&record, p.expected_revision)?;
    state.insert_release(&release)?;
    record_evidence(&mut state, &release, &p.evidence)?;
    state.finish_plan(&p.plan_id, p.meta.now)?;
    let comments = comment_statements(&p.environment, &p.snapshots, &release);
    execute_batched(warehouse, &comments, None).map_err(wh_err)?;
    failpoint("promote-before-commit");
    Ok(release)
}

/// Runs `statements` in batches of [`FLIP_BATCH`], one round trip each, inside the caller's
/// transaction: a 10,000-view flip is a few round trips, not 10,000. `midway` names a
/// failpoint reached after the middle batch.
fn execute_batched(
    warehouse: &mut dyn Warehouse,
    statements: &[String],
    midway: Option<&str>,
) -> Result<(), WarehouseError> {
    let batches: Vec<&[String]> = statements.chunks(FLIP_BATCH).collect();
    for (i, batch) in batches.iter().enumerate() {
        warehouse.execute(&batch.join(";\n"))?;
        if i == batches.len() / 2
            && let Some(name) = midway
        {
            failpoint(name);
        }
    }
    Ok(())
}

fn statement_error(environment: &str, which: &str, error: WarehouseError) -> PromoteError {
    PromoteError::Refused(format!(
        "a `{which}` statement from config.yaml failed, so environment {environment:?} was not \
         changed: {error}"
    ))
}

/// Refuses to point a view at a table that is not there (never built, or dropped).
fn ensure_tables_exist(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    refs: &[SnapshotRef],
) -> Result<(), PromoteError> {
    let existing = crate::warehouse::existing_physical_tables(warehouse).map_err(|error| {
        PromoteError::Warehouse {
            environment: environment.into(),
            error,
        }
    })?;
    let missing: Vec<String> = refs
        .iter()
        .filter(|s| !s.is_symbolic() && !existing.contains(&s.table()))
        .map(|s| format!("{} ({})", s.name, s.table()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(PromoteError::MissingTables {
        environment: environment.into(),
        tables: missing,
    })
}

/// `before_all` / `after_all` with their variables filled in: `@this_env` is the environment's
/// name; a statement using `@schema` runs once per schema of the environment's views, one
/// using `@view` once per view (both quoted).
pub fn expand_statements(
    environment: &str,
    statements: &Statements,
    refs: &[SnapshotRef],
) -> (Vec<String>, Vec<String>) {
    let views: Vec<(String, String)> = refs
        .iter()
        .filter(|r| !r.is_symbolic())
        .map(|r| environment_view(environment, &r.name))
        .collect();
    let schemas: BTreeSet<&str> = views.iter().map(|(s, _)| s.as_str()).collect();
    let expand = |sql: &String| -> Vec<String> {
        let sql = sql.replace("@this_env", &quote_literal(environment));
        if sql.contains("@schema") {
            schemas
                .iter()
                .map(|s| sql.replace("@schema", &quote_ident(s)))
                .collect()
        } else if sql.contains("@view") {
            views
                .iter()
                .map(|(s, t)| {
                    sql.replace("@view", &format!("{}.{}", quote_ident(s), quote_ident(t)))
                })
                .collect()
        } else {
            vec![sql]
        }
    };
    (
        statements.before_all.iter().flat_map(expand).collect(),
        statements.after_all.iter().flat_map(expand).collect(),
    )
}

/// The DDL that moves an environment's views from `old` to `new`: schemas, replaced views,
/// and dropped views of models that left the environment.
pub fn view_statements(environment: &str, old: &[SnapshotRef], new: &[SnapshotRef]) -> Vec<String> {
    let mut statements = Vec::new();
    let visible: Vec<&SnapshotRef> = new.iter().filter(|s| !s.is_symbolic()).collect();
    let schemas: BTreeSet<String> = visible
        .iter()
        .map(|s| environment_view(environment, &s.name).0)
        .collect();
    for schema in schemas {
        statements.push(format!(
            "CREATE SCHEMA IF NOT EXISTS {}",
            quote_ident(&schema)
        ));
    }
    let old_by_name: BTreeMap<&str, &SnapshotRef> =
        old.iter().map(|s| (s.name.as_str(), s)).collect();
    for s in &visible {
        let (schema, table) = environment_view(environment, &s.name);
        let view = format!("{}.{}", quote_ident(&schema), quote_ident(&table));
        // Same snapshot, same table: nothing to do. A forward-only change keeps the table but
        // may have added columns, which a view's `*` only picks up when it is recreated.
        if old_by_name
            .get(s.name.as_str())
            .is_some_and(|o| *o == *s && !o.is_symbolic())
        {
            continue;
        }
        // DROP + CREATE rather than CREATE OR REPLACE: PostgreSQL refuses to replace a view
        // whose columns changed.
        statements.push(format!("DROP VIEW IF EXISTS {view}"));
        statements.push(format!(
            "CREATE VIEW {view} AS SELECT * FROM {}",
            s.table().quoted()
        ));
    }
    let kept: BTreeSet<&str> = visible.iter().map(|s| s.name.as_str()).collect();
    for o in old
        .iter()
        .filter(|o| !o.is_symbolic() && !kept.contains(o.name.as_str()))
    {
        let (schema, table) = environment_view(environment, &o.name);
        statements.push(format!(
            "DROP VIEW IF EXISTS {}.{}",
            quote_ident(&schema),
            quote_ident(&table)
        ));
    }
    statements
}

/// Drops an environment's views and its record (never `prod`), in one transaction.
pub fn drop_environment(
    warehouse: &mut dyn Warehouse,
    env: &EnvironmentRecord,
) -> Result<(), PromoteError> {
    if env.name == "prod" {
        return Err(PromoteError::Refused(
            "the prod environment is never dropped".into(),
        ));
    }
    let wh_err = |error| PromoteError::Warehouse {
        environment: env.name.clone(),
        error,
    };
    let statements = view_statements(&env.name, &env.snapshots, &[]);
    warehouse.begin().map_err(wh_err)?;
    let result = (|| -> Result<(), PromoteError> {
        for sql in &statements {
            warehouse.execute(sql).map_err(wh_err)?;
        }
        let mut state = StateStore::new(warehouse);
        state.delete_environment(&env.name)?;
        state.clear_live_release(&env.name)?;
        Ok(())
    })();
    match result {
        Ok(()) => warehouse.commit().map_err(wh_err),
        Err(e) => {
            let _ = warehouse.rollback();
            Err(e)
        }
    }
}

/// Re-points an environment at an earlier release's tables: no backfill, one transaction.
/// `to` defaults to the release the current one was made from (its base), so successive
/// rollbacks step back one release each. Refuses when a table is gone.
pub fn rollback(
    warehouse: &mut dyn Warehouse,
    environment: &str,
    to: Option<&str>,
    meta: PromoteMeta,
) -> Result<Release, PromoteError> {
    let mut state = StateStore::new(warehouse);
    let env = state.environment(environment)?.ok_or_else(|| {
        PromoteError::Refused(format!("environment {environment:?} does not exist"))
    })?;
    let target_id = match to {
        Some(id) => id.to_string(),
        None => {
            let current = match &env.release_id {
                Some(id) => state.release(id)?,
                None => None,
            };
            current.and_then(|r| r.base_release).ok_or_else(|| {
                PromoteError::Refused(format!(
                    "environment {environment:?} has no release before {}",
                    env.release_id.as_deref().unwrap_or("its first")
                ))
            })?
        }
    };
    let target = state
        .release(&target_id)?
        .filter(|r| r.environment == environment)
        .ok_or_else(|| {
            PromoteError::Refused(format!(
                "release {target_id:?} is not a release of environment {environment:?} (see `sluice releases {environment}`)"
            ))
        })?;
    let ttl = env.expires_at.map(|at| at - env.updated_at);
    let evidence = rollback_evidence(&mut state, &target, &meta)?;
    promote(
        warehouse,
        Promotion {
            environment: environment.to_string(),
            plan_id: target.plan_id.clone(),
            digest: target.digest.clone(),
            snapshots: target.snapshots.clone(),
            expected_revision: Some(env.revision),
            kind: ReleaseKind::Rollback,
            restored_release: Some(target.id.clone()),
            rollback_base: target.base_release.clone(),
            audits: target.audits.clone(),
            statements: target.statements.clone(),
            meta: PromoteMeta {
                ttl: meta.ttl.or(ttl),
                ..meta
            },
            evidence,
        },
    )
    .map_err(|e| match e {
        PromoteError::MissingTables { tables, .. } => PromoteError::Refused(format!(
            "cannot roll back {environment:?} to {}: its tables are gone (dropped by the \
             janitor?): {}; re-apply a plan to rebuild them instead",
            target.id,
            tables.join(", ")
        )),
        other => other,
    })
}

/// Whether a prepared plan can be promoted: every batch it needs is recorded (built, and its
/// blocking audits passed). Returns the plan and the audit results of its batches (the
/// evidence), or [`PromoteError::Incomplete`] naming what is missing.
pub fn check_plan(
    warehouse: &mut dyn Warehouse,
    plan_id: &str,
) -> Result<(PreparedPlan, Vec<AuditResult>), PromoteError> {
    let mut state = StateStore::new(warehouse);
    let plan = state
        .prepared_plan(plan_id)?
        .ok_or_else(|| PromoteError::UnknownPlan(plan_id.to_string()))?;
    // Two queries for the whole plan, not two per model.
    let tables: Tables = plan
        .backfill
        .iter()
        .map(|b| (b.model.clone(), b.version.clone()))
        .collect();
    let recorded = state.intervals_of(&tables)?;
    let evidence = state.audit_results_of(&tables)?;
    let mut missing = Vec::new();
    let mut audits = Vec::new();
    for backfill in &plan.backfill {
        let table = (backfill.model.clone(), backfill.version.clone());
        let done = recorded.get(&table).cloned().unwrap_or_default();
        let open: Vec<&Interval> = backfill
            .batches
            .iter()
            .filter(|b| !done.iter().any(|d| d.start <= b.start && b.end <= d.end))
            .collect();
        if let Some(first) = open.first() {
            missing.push(format!(
                "{} has {} of {} batch(es) to go (first: {first})",
                backfill.model,
                open.len(),
                backfill.batches.len()
            ));
        }
        audits.extend(
            evidence
                .get(&table)
                .into_iter()
                .flatten()
                .filter(|a| {
                    a.interval.is_some_and(|i| {
                        backfill
                            .batches
                            .iter()
                            .any(|b| b.start <= i.start && i.end <= b.end)
                    })
                })
                .cloned(),
        );
    }
    if !missing.is_empty() {
        return Err(PromoteError::Incomplete {
            plan: plan.basis.id.clone(),
            environment: plan.basis.environment.clone(),
            missing,
        });
    }
    Ok((plan, audits))
}

/// Promotes a prepared plan: checks it ([`check_plan`]) and that every table exists, then flips
/// the environment in one transaction, recording the audits of the plan's batches as the
/// release's evidence.
pub fn promote_plan(
    warehouse: &mut dyn Warehouse,
    plan_id: &str,
    meta: PromoteMeta,
) -> Result<Release, PromoteError> {
    let (plan, audits) = check_plan(warehouse, plan_id)?;
    let evidence = plan_evidence(warehouse, &plan, &audits, &meta)?;
    promote(
        warehouse,
        Promotion {
            environment: plan.basis.environment.clone(),
            plan_id: plan.basis.id.clone(),
            digest: Some(plan.basis.digest.clone()),
            snapshots: plan.references.clone(),
            expected_revision: plan.basis.base_revision,
            kind: ReleaseKind::Promotion,
            restored_release: None,
            rollback_base: None,
            audits,
            statements: plan.statements.clone(),
            meta,
            evidence,
        },
    )
}
