//! The Promotion controller: evaluate every gate (plan ready, up to date, audits, no gaps,
//! approvals), then flip the environment in one transaction with the engine, exactly once per
//! Promotion (its uid is the engine's idempotency key). Rollbacks re-point an environment at
//! an earlier release, gated by `rollbackApprovals`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::context::{Context, apply_status};
use super::error::{Error, Result};
use super::gates::{self, ApprovalTally, Authors};
use super::plan::warehouse_name;
use super::readiness::{plan_gates, rollback_gate, superseded};
use crate::intervals::parse_duration;
use crate::k8s::Environment;
use crate::k8s::conditions::{Conditions, now_rfc3339};
use crate::k8s::plan::Plan;
use crate::k8s::promotion::{
    CREATED_BY, Gate, GateState, PromotedRelease, Promotion, PromotionPhase, PromotionStatus,
};
use crate::promote::{PromoteError, PromoteMeta, promote_plan, rollback};
use crate::snapshot::{Approval, Release};
use crate::state::{StateError, StateStore};

pub async fn reconcile(promotion: Arc<Promotion>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile("Promotion");
    let old = promotion.status.clone().unwrap_or_default();
    let mut status = old.clone();
    let outcome = step(&promotion, &ctx, &mut status).await;
    let mut conditions =
        Conditions::new(&old.conditions, promotion.meta().generation, &now_rfc3339());
    match &outcome {
        Ok(_) => set_conditions(&mut conditions, &status),
        Err(e) if e.is_stalled() => conditions.mark_stalled(e.reason(), &e.to_string()),
        Err(e) => conditions.mark_reconciling(e.reason(), &format!("retrying: {e}")),
    }
    status.conditions = conditions.list;
    status.observed_generation = promotion.meta().generation;
    if status != old {
        apply_status(&ctx.client, promotion.as_ref(), &status).await?;
        announce(&promotion, &ctx, &old, &status, outcome.as_ref().err()).await;
    }
    outcome
}

fn set_conditions(c: &mut Conditions, status: &PromotionStatus) {
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
        PromotionPhase::AwaitingApproval => c.mark_reconciling("AwaitingApproval", &waiting()),
        PromotionPhase::Promoting => c.mark_reconciling("Promoting", "flipping the environment"),
        PromotionPhase::Pending => c.mark_reconciling("GatesPending", &waiting()),
    }
}

/// What to flip once every gate passes.
pub(super) enum Flip {
    Plan {
        plan_id: String,
    },
    Rollback {
        environment: String,
        release: Option<String>,
    },
}

async fn step(p: &Promotion, ctx: &Context, status: &mut PromotionStatus) -> Result<Action> {
    if status.phase.is_terminal() && status.phase != PromotionPhase::Promoted {
        return Ok(Action::await_change());
    }
    let namespace = p.namespace().unwrap_or_default();
    let environments: Api<Environment> = Api::namespaced(ctx.client.clone(), &namespace);
    let (env_object, target) = match (&p.spec.plan, &p.spec.rollback) {
        (Some(plan), None) => (plan_environment(ctx, &namespace, plan).await?.0, None),
        (None, Some(rollback)) => (rollback.environment.clone(), Some(rollback.release.clone())),
        _ => {
            return Err(Error::stalled(
                "InvalidSpec",
                "set exactly one of spec.plan and spec.rollback",
            ));
        }
    };
    let env = environments.get_opt(&env_object).await?.ok_or_else(|| {
        Error::stalled(
            "EnvironmentNotFound",
            format!("Environment {namespace}/{env_object} does not exist"),
        )
    })?;
    status.environment = Some(env.name_any());
    let env_name = warehouse_name(&env)?;
    let url = ctx
        .warehouse_url(&namespace, &env.spec.warehouse.secret_ref)
        .await?;
    let uid = p.meta().uid.clone().unwrap_or_default();
    if status.phase == PromotionPhase::Promoted {
        // Evidence and lineage still to publish (or to retry).
        return super::evidence::after_promotion(p, ctx, &env, &url, status).await;
    }

    // A flip that already happened (the operator stopped before recording it) is found by its key.
    let key = uid.clone();
    let done = ctx
        .with_warehouse(&url, move |wh| {
            Ok(StateStore::new(wh).release_for_request(&key)?)
        })
        .await?;
    if let Some(release) = done {
        promoted(status, &release);
        return super::evidence::after_promotion(p, ctx, &env, &url, status).await;
    }

    let policy = &env.spec.promotion;
    let (mut gates, flip, digest, required, engine_plan) = match target {
        None => {
            let plan_name = p.spec.plan.clone().unwrap_or_default();
            let (_, plan) = plan_environment(ctx, &namespace, &plan_name).await?;
            let engine_plan = plan.status.as_ref().and_then(|s| s.plan_id.clone());
            let (gates, flip) = plan_gates(ctx, &plan, &env_name, &url).await?;
            if let Some(superseded) = superseded(&plan, &gates) {
                status.phase = PromotionPhase::Superseded;
                status.message = superseded;
                return Ok(Action::await_change());
            }
            let digest = plan
                .status
                .as_ref()
                .and_then(|s| s.digest.clone())
                .unwrap_or_default();
            (gates, flip, digest, policy.required(), engine_plan)
        }
        Some(release) => {
            let (gate, digest) = rollback_gate(ctx, &env_name, release.as_deref(), &url).await?;
            let flip = Flip::Rollback {
                environment: env_name.clone(),
                release,
            };
            (
                vec![gate],
                Some(flip),
                digest,
                policy.rollback_approvals,
                None,
            )
        }
    };
    status.digest = Some(digest.clone()).filter(|d| !d.is_empty());
    let authors = Authors {
        plan_author: match &p.spec.plan {
            Some(name) => plan_environment(ctx, &namespace, name)
                .await?
                .1
                .spec
                .author
                .clone(),
            None => None,
        },
        creator: p.annotations().get(CREATED_BY).cloned(),
    };
    let tally = gates::tally(
        p.annotations(),
        policy,
        required,
        &digest,
        &authors,
        &status.approvals,
        &now_rfc3339(),
    );
    status.approvals = tally.approvals.clone();
    status.approval_count = Some(format!("{}/{}", tally.counted, tally.required));
    if let Some((user, reason)) = &tally.rejected {
        status.phase = PromotionPhase::Rejected;
        status.rejected_by = Some(user.clone());
        status.message = format!("rejected by {user}: {reason}");
        return Ok(Action::await_change());
    }
    // Data products: owners' and classifications' approvals, then the engine's checks
    // (freshness, quality, rollback readiness) once every batch is built.
    let mut product_approvals = Vec::new();
    if let Some(plan_id) = &engine_plan {
        let impact = super::evidence::plan_impact(ctx, &url, plan_id).await?;
        let (people, used) =
            super::evidence::people_gates(p.annotations(), &impact, policy, &digest, &authors);
        gates.extend(people);
        product_approvals = used;
        let built = gates
            .iter()
            .any(|g| g.name == "no-gaps" && g.state == GateState::Passed);
        if built && matches!(flip, Some(Flip::Plan { .. })) {
            gates.extend(super::evidence::product_check_gates(ctx, &url, plan_id).await?);
        }
    }
    gates.push(tally.gate());
    status.gates = gates;
    let blocked: Vec<&Gate> = status
        .gates
        .iter()
        .filter(|g| g.state != GateState::Passed)
        .collect();
    if !blocked.is_empty() || flip.is_none() {
        let only_approvals = blocked
            .iter()
            .all(|g| super::evidence::is_approval_gate(&g.name));
        status.phase = if only_approvals {
            PromotionPhase::AwaitingApproval
        } else {
            PromotionPhase::Pending
        };
        status.message = String::new();
        return Ok(Action::requeue(Duration::from_secs(30)));
    }
    status.phase = PromotionPhase::Promoting;
    apply_status(&ctx.client, p, &*status).await?;
    let meta = PromoteMeta {
        created_by: p
            .annotations()
            .get(CREATED_BY)
            .cloned()
            .unwrap_or_else(|| format!("promotion {namespace}/{}", p.name_any())),
        now: chrono::Utc::now().timestamp(),
        ttl: env.spec.ttl.as_deref().and_then(|t| parse_duration(t).ok()),
        approvals: merge_approvals(counted_approvals(&tally, &digest), product_approvals),
        request_id: Some(uid),
        // The people gates as decided here; the engine adds its own checks.
        gates: super::evidence::as_results(
            &status
                .gates
                .iter()
                .filter(|g| super::evidence::is_approval_gate(&g.name))
                .cloned()
                .collect::<Vec<_>>(),
        ),
        at_ms: None,
    };
    crate::promote::failpoint("operator-before-flip");
    let started = Instant::now();
    let flipped = ctx
        .with_warehouse(&url, move |wh| {
            Ok(match flip.expect("checked above") {
                Flip::Plan { plan_id } => promote_plan(wh, &plan_id, meta),
                Flip::Rollback {
                    environment,
                    release,
                } => rollback(wh, &environment, release.as_deref(), meta),
            })
        })
        .await?;
    match flipped {
        Ok(release) => {
            crate::promote::failpoint("operator-after-flip");
            ctx.metrics.flips.inc();
            ctx.metrics
                .flip_seconds
                .observe(started.elapsed().as_secs_f64());
            promoted(status, &release);
            super::evidence::after_promotion(p, ctx, &env, &url, status).await
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
            status.message = moved_message(ctx, &namespace, &env_name, &url).await;
            Ok(Action::requeue(Duration::from_secs(2)))
        }
        Err(PromoteError::State(StateError::Warehouse(e))) => {
            status.phase = PromotionPhase::Pending;
            Err(Error::WarehouseUnavailable(e.to_string()))
        }
        Err(PromoteError::Warehouse { error, .. })
            if super::error::is_unavailable(&anyhow::anyhow!("{error}")) =>
        {
            status.phase = PromotionPhase::Pending;
            Err(Error::WarehouseUnavailable(error.to_string()))
        }
        Err(e @ (PromoteError::Incomplete { .. } | PromoteError::MissingTables { .. })) => {
            status.phase = PromotionPhase::Pending;
            status.message = e.to_string();
            Ok(Action::requeue(Duration::from_secs(10)))
        }
        Err(e) => {
            status.phase = PromotionPhase::Failed;
            status.message = e.to_string();
            Ok(Action::await_change())
        }
    }
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

/// The Plan a promotion names, and the Environment object it plans into.
async fn plan_environment(ctx: &Context, namespace: &str, name: &str) -> Result<(String, Plan)> {
    let plans: Api<Plan> = Api::namespaced(ctx.client.clone(), namespace);
    let plan = plans.get_opt(name).await?.ok_or_else(|| {
        Error::stalled(
            "PlanNotFound",
            format!("Plan {namespace}/{name} (spec.plan) does not exist"),
        )
    })?;
    Ok((plan.spec.environment.clone(), plan))
}

fn counted_approvals(tally: &ApprovalTally, digest: &str) -> Vec<Approval> {
    tally
        .approvals
        .iter()
        .filter(|a| a.counted)
        .map(|a| Approval {
            user: a.user.clone(),
            at: a
                .at
                .as_deref()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map_or(0, |t| t.timestamp()),
            digest: digest.to_string(),
            groups: a.groups.clone(),
            comment: a.comment.clone(),
        })
        .collect()
}

/// The quorum's approvals, plus those that satisfied a product gate only.
fn merge_approvals(mut counted: Vec<Approval>, products: Vec<Approval>) -> Vec<Approval> {
    for approval in products {
        if !counted.iter().any(|a| a.user == approval.user) {
            counted.push(approval);
        }
    }
    counted
}

/// After a lost race: which Promotion moved the environment.
async fn moved_message(ctx: &Context, namespace: &str, env_name: &str, url: &str) -> String {
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

async fn announce(
    p: &Promotion,
    ctx: &Context,
    old: &PromotionStatus,
    new: &PromotionStatus,
    error: Option<&Error>,
) {
    if let Some(e) = error {
        ctx.metrics.error("Promotion", e.reason());
        ctx.event(p, true, e.reason(), e.to_string()).await;
        return;
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
