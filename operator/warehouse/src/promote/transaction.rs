//! The flip's transaction: the environment and release records and the views' swap, committed
//! together, retried with backoff while readers hold the views.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use sluice_engine::evidence::FlipConsistency;
use sluice_engine::model::Dialect;
use sluice_engine::plan::is_prod;
use sluice_engine::snapshot::{EnvironmentRecord, Release, ReleaseKind, SnapshotRef};

use super::evidence::{comment_statements, record_evidence, release_comment};
use super::readers::{self, Backoff, oldest_reader};
use super::{
    FlipEvent, PromoteError, Promotion, ensure_tables_exist, execute_batched, expand_statements,
    failpoint, flip, release_id, sql_tables_grants, statement_error,
};
use crate::state::{StateError, StateStore};
use crate::warehouse::Warehouse;

/// A flip's committed transaction.
pub(super) struct Flipped {
    pub release: Release,
    /// From asking for the locks readers can notice to the commit.
    pub lock_held: Duration,
    pub attempts: u32,
    /// What the swapped schemas' new views were given of the old views' privileges.
    pub carried: flip::Carried,
}

/// What one attempt at the flip's transaction has done so far.
#[derive(Default)]
struct Attempt {
    lock_started: Option<Instant>,
    carried: flip::Carried,
}

/// Runs the flip's transaction until it commits, backing off while readers hold the views and
/// giving up at the policy's ceiling.
pub(super) fn flip_with_retries(
    warehouse: &mut dyn Warehouse,
    p: &Promotion,
    old_refs: &[SnapshotRef],
    flips: &[flip::SchemaFlip],
    predicted: i64,
) -> Result<Flipped, PromoteError> {
    let policy = &p.meta.flip;
    let postgres = warehouse.dialect() == Dialect::Postgres;
    let views: BTreeSet<(String, String)> = flips
        .iter()
        .flat_map(|f| f.changing_views(&p.environment))
        .collect();
    let mut backoff = Backoff::new();
    loop {
        backoff.next_attempt();
        // A reader already inside a view for longer than we would wait: do not queue behind it.
        let holder = if postgres {
            oldest_reader(warehouse, &views, policy.lock_timeout).map_err(|error| {
                PromoteError::Warehouse {
                    environment: p.environment.clone(),
                    error,
                }
            })?
        } else {
            None
        };
        let blocker = match holder {
            Some(blocker) => Some(blocker),
            None => match flip_once(warehouse, p, old_refs, flips, predicted) {
                Ok(flipped) => {
                    return Ok(Flipped {
                        attempts: backoff.attempt(),
                        ..flipped
                    });
                }
                Err(PromoteError::Warehouse { error, .. }) if error.is_busy() => {
                    oldest_reader(warehouse, &views, Duration::ZERO).unwrap_or(None)
                }
                Err(e) => return Err(e),
            },
        };
        policy.tell(FlipEvent::Waiting {
            attempt: backoff.attempt(),
            waited: backoff.waited(),
            blocker: blocker.clone(),
        });
        if !backoff.sleep(policy.wait_for_readers) {
            return Err(PromoteError::ReadersBlocking {
                environment: p.environment.clone(),
                waited: backoff.waited(),
                blocker,
            });
        }
    }
}

/// One attempt at the flip's transaction.
fn flip_once(
    warehouse: &mut dyn Warehouse,
    p: &Promotion,
    old_refs: &[SnapshotRef],
    flips: &[flip::SchemaFlip],
    predicted: i64,
) -> Result<Flipped, PromoteError> {
    let wh_err = |error| PromoteError::Warehouse {
        environment: p.environment.clone(),
        error,
    };
    warehouse.begin().map_err(wh_err)?;
    let mut attempt = Attempt::default();
    match promote_in_transaction(warehouse, p, old_refs, flips, predicted, &mut attempt) {
        Ok(release) => {
            warehouse.commit().map_err(wh_err)?;
            Ok(Flipped {
                release,
                lock_held: attempt
                    .lock_started
                    .map(|t| t.elapsed())
                    .unwrap_or_default(),
                attempts: 1,
                carried: attempt.carried,
            })
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
    old_refs: &[SnapshotRef],
    flips: &[flip::SchemaFlip],
    predicted: i64,
    attempt: &mut Attempt,
) -> Result<Release, PromoteError> {
    let wh_err = |error| PromoteError::Warehouse {
        environment: p.environment.clone(),
        error,
    };
    if warehouse.dialect() == Dialect::Postgres {
        warehouse
            .execute(&readers::lock_timeout_statement(&p.meta.flip))
            .map_err(wh_err)?;
    }
    let per_view = !warehouse.atomic_flip();
    let mut state = StateStore::new(warehouse);
    if per_view {
        // Committed with the release (or with nothing, when the request is already done).
        state.end_flip(&p.environment)?;
    }
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
    let (before, after) = expand_statements(&p.environment, &p.statements, &p.snapshots);
    for sql in &before {
        warehouse
            .execute(sql)
            .map_err(|e| statement_error(&p.environment, "before_all", e))?;
    }
    let revision = found.unwrap_or(0) + 1;
    let mut state = StateStore::new(warehouse);
    let number = state.next_release_number(&p.environment)?;
    if number != predicted && flips.iter().any(|f| f.stage.is_some()) {
        return Err(StateError::Conflict {
            environment: p.environment.clone(),
            expected: p.expected_revision,
            found,
        }
        .into());
    }
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
        previous: old_refs.to_vec(),
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
    // Per view, the evidence waits for the swap, to record how long readers could see a mix
    // (there is no lock to keep short there).
    if !per_view {
        let atomic = FlipConsistency {
            level: "atomic".into(),
            mixed_window_ms: None,
        };
        record_evidence(&mut state, &release, &p.evidence, atomic)?;
    }
    state.finish_plan(&p.plan_id, p.meta.now)?;
    // The views of the schemas changed in place are commented once recreated (the stages'
    // were commented when built, the unchanged ones after the commit).
    let later: Vec<String> = flips
        .iter()
        .filter(|f| f.stage.is_none())
        .flat_map(|f| f.new_views(&p.environment))
        .collect();
    let comment = release_comment(&p.environment, &release.id, &release.plan_id);
    sql_tables_grants(warehouse, &p.snapshots).map_err(wh_err)?;
    let swap = flip::Swap::prepare(warehouse, &p.environment, flips).map_err(wh_err)?;
    let swap_started = Instant::now();
    attempt.lock_started = Some(swap_started);
    flip::swap(warehouse, &p.environment, flips, &swap, &|| {
        failpoint("promote-midway")
    })
    .map_err(wh_err)?;
    attempt.carried = swap.carried;
    if per_view {
        let window = FlipConsistency {
            level: "per view".into(),
            mixed_window_ms: Some(swap_started.elapsed().as_millis() as u64),
        };
        record_evidence(
            &mut StateStore::new(warehouse),
            &release,
            &p.evidence,
            window,
        )?;
    }
    let comments = comment_statements(warehouse, &later, &comment);
    execute_batched(warehouse, &comments, None).map_err(wh_err)?;
    for sql in &after {
        warehouse
            .execute(sql)
            .map_err(|e| statement_error(&p.environment, "after_all", e))?;
    }
    failpoint("promote-before-commit");
    Ok(release)
}
