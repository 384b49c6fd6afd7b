//! The Promotion controller. Each pass gathers its inputs once (`inputs`), decides with a pure
//! function (`decide`), and only when every gate passes gathers and decides again on what the
//! API server has right now, commits `Promoting` on that exact version of the Promotion (a
//! change since — an approval withdrawn, a rejection added — makes the write fail and the
//! decision run again), flips with the engine exactly once (the Promotion's uid is its
//! idempotency key), and publishes the evidence and lineage (`publish`).

mod decide;
mod inputs;
mod publish;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use sluice_api::Environment;
use sluice_api::conditions::Conditions;
use sluice_api::promotion::{
    GateState, PromotedRelease, Promotion, PromotionPhase, PromotionStatus, ReadersWait,
};
use sluice_engine::intervals::parse_duration;
use sluice_engine::snapshot::Release;
use sluice_warehouse::promote::readers;
use sluice_warehouse::promote::{
    Blocker, FlipEvent, FlipPolicy, PromoteError, PromoteMeta, promote_plan, rollback,
};
use sluice_warehouse::state::{StateError, StateStore};

use super::context::{Context, WarehouseTarget};
use super::error::{Error, Result};
use super::frame::{Outcome, Reconcile};

pub use decide::{Decision, Flip, FlipPlan, POLICY_MISSING, decide, is_approval_gate};
pub use inputs::Inputs;

impl Reconcile for Promotion {
    type Status = PromotionStatus;
    const KIND: &'static str = "Promotion";

    fn status(&self) -> Option<&PromotionStatus> {
        self.status.as_ref()
    }

    fn step<'a>(
        &'a self,
        ctx: &'a Context,
        status: &'a mut PromotionStatus,
    ) -> BoxFuture<'a, Result<Outcome>> {
        Box::pin(async move {
            let mut reason = None;
            let action = step(self, ctx, status, &mut reason).await?;
            Ok(Outcome { action, reason })
        })
    }

    fn summarize(
        status: &PromotionStatus,
        conditions: &mut Conditions,
        reason: Option<&'static str>,
    ) {
        set_conditions(conditions, status, reason)
    }

    fn announce<'a>(
        &'a self,
        ctx: &'a Context,
        old: &'a PromotionStatus,
        new: &'a PromotionStatus,
    ) -> BoxFuture<'a, ()> {
        Box::pin(announce(self, ctx, old, new))
    }
}

fn set_conditions(c: &mut Conditions, status: &PromotionStatus, reason: Option<&'static str>) {
    let approved = status
        .gates
        .iter()
        .any(|g| g.name == "approvals" && g.state == GateState::Passed);
    c.set(
        "Approved",
        approved,
        if approved {
            "Approved"
        } else {
            "AwaitingApproval"
        },
        status.approval_count.as_deref().unwrap_or(""),
    );
    let promoted = status.phase == PromotionPhase::Promoted;
    c.set(
        "Promoted",
        promoted,
        if promoted { "Promoted" } else { "NotPromoted" },
        &status
            .release
            .as_ref()
            .map(|r| r.id.clone())
            .unwrap_or_default(),
    );
    let waiting = || {
        status
            .gates
            .iter()
            .filter(|g| g.state != GateState::Passed)
            .map(|g| format!("{}: {}", g.name, g.message))
            .collect::<Vec<_>>()
            .join("; ")
    };
    match status.phase {
        PromotionPhase::Promoted => c.mark_ready(
            "Promoted",
            &format!(
                "release {} is live",
                status.release.as_ref().map_or("?", |r| r.id.as_str())
            ),
        ),
        // Stalled: kstatus tools see a promotion that will not happen without someone acting.
        PromotionPhase::Rejected => c.mark_stalled("Rejected", &status.message),
        PromotionPhase::Failed => c.mark_stalled("Failed", &status.message),
        PromotionPhase::Superseded => c.mark_failed("Superseded", &status.message),
        PromotionPhase::AwaitingApproval => {
            c.mark_reconciling(reason.unwrap_or("AwaitingApproval"), &waiting())
        }
        PromotionPhase::Promoting => c.mark_reconciling("Promoting", "flipping the environment"),
        PromotionPhase::Pending if status.waiting_for_readers.is_some() => {
            c.mark_reconciling("WaitingForReaders", &status.message)
        }
        PromotionPhase::Pending => c.mark_reconciling(reason.unwrap_or("GatesPending"), &waiting()),
    }
    match &status.waiting_for_readers {
        Some(_) => c.set(
            "WaitingForReaders",
            true,
            "ReadersHoldViews",
            &status.message,
        ),
        None => c.remove("WaitingForReaders"),
    }
}

async fn step(
    p: &Promotion,
    ctx: &Context,
    status: &mut PromotionStatus,
    reason: &mut Option<&'static str>,
) -> Result<Action> {
    if status.phase == PromotionPhase::Promoted {
        // Evidence and lineage still to publish (or to retry).
        let (env, url) = environment_of(ctx, p, status).await?;
        return publish::after_promotion(p, ctx, env.spec.lineage.as_ref(), &url, status).await;
    }
    if inputs::settled(status) {
        return Ok(Action::await_change());
    }
    let (inputs, url) = inputs::gather(ctx, p, false).await?;
    status.environment = Some(inputs.environment.clone());
    status.policy_missing_at = inputs.promotion.policy_missing_at.clone();
    ctx.metrics.approval_policy_verified(
        &inputs.promotion.namespace,
        inputs.trust.distrust().is_none(),
    );
    // A flip that already happened (the operator stopped before recording it).
    if let Some(release) = &inputs.warehouse.done {
        promoted(status, release);
        return publish::after_promotion(p, ctx, inputs.lineage.as_ref(), &url, status).await;
    }
    let decision = decide(&inputs);
    record(ctx, &inputs, &decision, &url).await?;
    apply(status, &decision);
    *reason = decision.reason;
    if decision.flip.is_none() {
        return Ok(match decision.phase {
            PromotionPhase::Rejected | PromotionPhase::Superseded => Action::await_change(),
            _ => Action::requeue(Duration::from_secs(30)),
        });
    }

    // Every gate passed. Right before the flip: the Promotion, its Plan and Environment and
    // the approval policy as the API server has them now, decided again.
    let fresh = inputs::read_promotion(ctx, &inputs.promotion.namespace, &p.name_any()).await?;
    let (inputs, url) = inputs::gather(ctx, &fresh, true).await?;
    status.policy_missing_at = inputs.promotion.policy_missing_at.clone();
    let decision = decide(&inputs);
    record(ctx, &inputs, &decision, &url).await?;
    apply(status, &decision);
    *reason = decision.reason;
    let Some(plan) = decision.flip else {
        return Ok(Action::requeue(Duration::from_secs(1)));
    };
    sluice_warehouse::promote::failpoint("operator-before-promoting");
    // `Promoting`, written only if the Promotion is still the version just decided on.
    if let Err(e) = commit(ctx, &fresh, status).await {
        return match e {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => {
                status.phase = PromotionPhase::Pending;
                status.message = "the Promotion changed while the operator was deciding to flip \
                                  it; deciding again"
                    .into();
                Ok(Action::requeue(Duration::from_millis(500)))
            }
            other => Err(other),
        };
    }
    flip(p, ctx, &inputs, plan, &url, status).await
}

/// Writes the decision's phase, gates and approvals into `status`.
fn apply(status: &mut PromotionStatus, decision: &Decision) {
    status.phase = decision.phase;
    status.gates = decision.gates.clone();
    status.digest = decision.digest.clone();
    status.approvals = decision.approvals.clone();
    status.approval_count = Some(decision.approval_count.clone()).filter(|c| !c.is_empty());
    status.rejected_by = decision.rejection.as_ref().map(|r| r.user.clone());
    status.rejection = decision.rejection.clone();
    status.message = decision.message.clone();
}

/// Records a rejection of the digest, or the lift of a recorded one, in the warehouse.
async fn record(
    ctx: &Context,
    inputs: &Inputs,
    decision: &Decision,
    url: &WarehouseTarget,
) -> Result<()> {
    let (env, digest) = (inputs.env_name.clone(), inputs.digest());
    if let Some(rejection) = decision.record.clone() {
        let already = inputs
            .warehouse
            .rejection
            .as_ref()
            .is_some_and(|r| r.standing());
        if !already {
            ctx.with_warehouse(url, move |wh| {
                Ok(StateStore::new(wh).record_rejection(&env, &digest, &rejection)?)
            })
            .await?;
        }
    } else if let Some(lift) = decision.lift.clone() {
        let at = inputs.now.clone();
        ctx.with_warehouse(url, move |wh| {
            Ok(StateStore::new(wh).lift_rejection(
                &env,
                &digest,
                &lift.user,
                &at,
                lift.comment.as_deref(),
            )?)
        })
        .await?;
    }
    Ok(())
}

/// Writes `status` (phase Promoting) with the resourceVersion of `fresh` as precondition.
async fn commit(ctx: &Context, fresh: &Promotion, status: &PromotionStatus) -> Result<()> {
    crate::context::apply_status_if_unchanged(&ctx.client, fresh, status).await
}

/// How long one reconcile may wait for readers before requeueing (the Promotion's own ceiling,
/// `spec.flip.maxWaitForReaders`, spans reconciles).
const READERS_WAIT_PER_RECONCILE: Duration = Duration::from_secs(20);

/// The Environment's flip settings as a policy for one attempt, and its overall ceiling.
fn flip_policy(
    spec: Option<&sluice_api::environment::FlipSpec>,
    seen: Arc<Mutex<Option<FlipEvent>>>,
) -> (FlipPolicy, Duration) {
    let parse = |text: Option<&String>, default: Duration| {
        text.and_then(|t| sluice_engine::intervals::parse_duration_ms(t).ok())
            .map_or(default, Duration::from_millis)
    };
    let lock_timeout = parse(
        spec.and_then(|s| s.lock_timeout.as_ref()),
        readers::DEFAULT_LOCK_TIMEOUT,
    );
    let ceiling = parse(
        spec.and_then(|s| s.max_wait_for_readers.as_ref()),
        readers::DEFAULT_WAIT_FOR_READERS,
    );
    let policy = FlipPolicy {
        lock_timeout,
        wait_for_readers: READERS_WAIT_PER_RECONCILE.min(ceiling),
        observer: Some(Arc::new(move |event: &FlipEvent| {
            *seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(event.clone());
        })),
        require_atomic: spec.is_some_and(|s| s.require_atomic),
    };
    (policy, ceiling)
}

/// Flips the environment with the engine and records the outcome in `status`.
async fn flip(
    p: &Promotion,
    ctx: &Context,
    inputs: &Inputs,
    plan: FlipPlan,
    url: &WarehouseTarget,
    status: &mut PromotionStatus,
) -> Result<Action> {
    let seen = Arc::new(Mutex::new(None));
    let (policy, ceiling) = flip_policy(inputs.flip.as_ref(), seen.clone());
    let meta = PromoteMeta {
        created_by: inputs.promotion.created_by.clone().unwrap_or_else(|| {
            format!(
                "promotion {}/{}",
                inputs.promotion.namespace, inputs.promotion.name
            )
        }),
        now: chrono::Utc::now().timestamp(),
        ttl: inputs.ttl.as_deref().and_then(|t| parse_duration(t).ok()),
        approvals: plan.approvals,
        request_id: Some(inputs.promotion.uid.clone()),
        gates: plan.gates,
        at_ms: None,
        flip: policy,
    };
    sluice_warehouse::promote::failpoint("operator-before-flip");
    let started = Instant::now();
    let what = plan.flip;
    let flipped = ctx
        .with_warehouse(url, move |wh| {
            Ok(match what {
                Flip::Plan { plan_id } => promote_plan(wh, &plan_id, meta),
                Flip::Rollback {
                    environment,
                    release,
                } => rollback(wh, &environment, release.as_deref(), meta),
            })
        })
        .await?;
    if !matches!(flipped, Err(PromoteError::ReadersBlocking { .. })) {
        status.waiting_for_readers = None;
    }
    match flipped {
        Ok(release) => {
            sluice_warehouse::promote::failpoint("operator-after-flip");
            ctx.metrics.flips.inc();
            ctx.metrics
                .flip_seconds
                .observe(started.elapsed().as_secs_f64());
            if let Some(FlipEvent::Flipped(report)) = seen.lock().ok().and_then(|s| s.clone()) {
                ctx.metrics
                    .flip_lock_seconds
                    .observe(report.lock_held.as_secs_f64());
            }
            promoted(status, &release);
            publish::after_promotion(p, ctx, inputs.lineage.as_ref(), url, status).await
        }
        Err(PromoteError::ReadersBlocking { blocker, .. }) => {
            ctx.metrics.flip_waits.inc();
            Ok(waiting_for_readers(status, blocker, ceiling))
        }
        Err(PromoteError::Gates { gates, .. }) => {
            // Checked moments ago and failed since (a product went stale): wait again.
            status.phase = PromotionPhase::Pending;
            status.message = gates
                .iter()
                .map(|g| format!("{}: {}", g.name, g.message))
                .collect::<Vec<_>>()
                .join("; ");
            Ok(Action::requeue(Duration::from_secs(30)))
        }
        Err(PromoteError::State(StateError::Conflict { .. })) => {
            status.phase = PromotionPhase::Pending;
            status.message =
                moved_message(ctx, &inputs.promotion.namespace, &inputs.env_name, url).await;
            Ok(Action::requeue(Duration::from_secs(2)))
        }
        Err(e @ (PromoteError::Incomplete { .. } | PromoteError::MissingTables { .. })) => {
            status.phase = PromotionPhase::Pending;
            status.message = e.to_string();
            Ok(Action::requeue(Duration::from_secs(10)))
        }
        Err(e) => match Error::from(e) {
            // The warehouse went away: nothing was flipped; try again.
            e @ Error::WarehouseUnavailable(_) => {
                status.phase = PromotionPhase::Pending;
                Err(e)
            }
            e => {
                status.phase = PromotionPhase::Failed;
                status.message = e.to_string();
                Ok(Action::await_change())
            }
        },
    }
}

/// The Environment a promoted Promotion promoted into, and its warehouse URL.
async fn environment_of(
    ctx: &Context,
    p: &Promotion,
    status: &PromotionStatus,
) -> Result<(Environment, WarehouseTarget)> {
    let namespace = p.namespace().unwrap_or_default();
    let name = status
        .environment
        .clone()
        .or_else(|| p.spec.rollback.as_ref().map(|r| r.environment.clone()))
        .unwrap_or_default();
    let api: Api<Environment> = Api::namespaced(ctx.client.clone(), &namespace);
    let env = api.get_opt(&name).await?.ok_or_else(|| {
        Error::stalled(
            "EnvironmentNotFound",
            format!("Environment {namespace}/{name} does not exist"),
        )
    })?;
    let url = ctx
        .warehouse_target(&namespace, &env.spec.warehouse)
        .await?;
    Ok((env, url))
}

/// A query holds the views: the Promotion stays Pending (nothing changed) and says whom it
/// waits for, until the Environment's ceiling, after which it fails.
fn waiting_for_readers(
    status: &mut PromotionStatus,
    blocker: Option<Blocker>,
    ceiling: Duration,
) -> Action {
    let now = chrono::Utc::now();
    let since = status
        .waiting_for_readers
        .as_ref()
        .and_then(|w| chrono::DateTime::parse_from_rfc3339(&w.since).ok())
        .map_or(now, |t| t.with_timezone(&chrono::Utc));
    let waited = (now - since).to_std().unwrap_or_default();
    let held = blocker
        .as_ref()
        .map_or_else(|| "a view was locked".to_string(), |b| b.to_string());
    if waited >= ceiling {
        status.phase = PromotionPhase::Failed;
        status.waiting_for_readers = None;
        status.message = format!(
            "gave up waiting for readers after {}s (spec.flip.maxWaitForReaders of the \
             Environment): {held}; nothing was changed — create a new Promotion to try again",
            waited.as_secs()
        );
        return Action::await_change();
    }
    status.phase = PromotionPhase::Pending;
    status.message = format!("waiting for readers: {held}");
    status.waiting_for_readers = Some(ReadersWait {
        since: since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        view: blocker.as_ref().map(|b| b.view.clone()),
        query_age_seconds: blocker.as_ref().map(|b| b.age.as_secs()),
        query: blocker.map(|b| b.query).unwrap_or_default(),
    });
    Action::requeue(Duration::from_secs(5))
}

fn promoted(status: &mut PromotionStatus, release: &Release) {
    status.phase = PromotionPhase::Promoted;
    status.message = String::new();
    status.release = Some(PromotedRelease {
        id: release.id.clone(),
        promoted_at: chrono::DateTime::from_timestamp(release.created_at, 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default(),
    });
    for gate in &mut status.gates {
        gate.state = GateState::Passed;
    }
}

/// After a lost race: which Promotion moved the environment.
async fn moved_message(
    ctx: &Context,
    namespace: &str,
    env_name: &str,
    url: &WarehouseTarget,
) -> String {
    let name = env_name.to_string();
    let release = ctx
        .with_warehouse(url, move |wh| {
            let mut state = StateStore::new(wh);
            let env = state.environment(&name)?;
            Ok(match env.and_then(|e| e.release_id) {
                Some(id) => state.release(&id)?,
                None => None,
            })
        })
        .await
        .ok()
        .flatten();
    let Some(release) = release else {
        return format!("environment {env_name} changed while promoting; re-planning");
    };
    let winner = match &release.request_id {
        Some(uid) => {
            let api: Api<Promotion> = Api::namespaced(ctx.client.clone(), namespace);
            api.list(&Default::default())
                .await
                .ok()
                .and_then(|l| {
                    l.items
                        .into_iter()
                        .find(|p| p.meta().uid.as_deref() == Some(uid))
                })
                .map(|p| format!("Promotion {}", p.name_any()))
        }
        None => None,
    }
    .unwrap_or_else(|| release.created_by.clone());
    format!(
        "environment {env_name} was promoted to {} by {winner} after this plan was computed: \
         the plan is re-planned, and approvals of the old digest no longer count",
        release.id
    )
}

async fn announce(p: &Promotion, ctx: &Context, old: &PromotionStatus, new: &PromotionStatus) {
    // Approvals stopped counting because they cannot be verified: once, when it starts.
    let missing = |s: &PromotionStatus| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Reconciling" && c.reason == POLICY_MISSING)
    };
    if missing(new) && !missing(old) {
        let why = new
            .gates
            .iter()
            .find(|g| g.state != GateState::Passed && g.message.contains("policy"))
            .map(|g| g.message.clone())
            .unwrap_or_default();
        ctx.event(p, true, POLICY_MISSING, why).await;
    }
    let counted = |s: &PromotionStatus| s.approvals.iter().filter(|a| a.counted).count();
    if counted(new) > counted(old) {
        ctx.event(
            p,
            false,
            "Approved",
            format!(
                "approval counted ({})",
                new.approval_count.as_deref().unwrap_or("")
            ),
        )
        .await;
    }
    let wait = |s: &PromotionStatus| s.waiting_for_readers.as_ref().map(|w| w.view.clone());
    if new.waiting_for_readers.is_some() && wait(new) != wait(old) {
        ctx.event(p, true, "WaitingForReaders", new.message.clone())
            .await;
    }
    if old.phase == new.phase {
        return;
    }
    let note = match new.phase {
        PromotionPhase::Promoted => format!(
            "environment {} is now at {}",
            new.environment.as_deref().unwrap_or("?"),
            new.release.as_ref().map_or("?", |r| r.id.as_str())
        ),
        PromotionPhase::AwaitingApproval => format!(
            "waiting for approvals ({})",
            new.approval_count.as_deref().unwrap_or("")
        ),
        _ if !new.message.is_empty() => new.message.clone(),
        other => format!("{other:?}"),
    };
    let warning = matches!(new.phase, PromotionPhase::Rejected | PromotionPhase::Failed);
    ctx.event(p, warning, &format!("{:?}", new.phase), note)
        .await;
}
