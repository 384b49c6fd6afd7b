//! The gates a Promotion checks before anything else: its plan is Ready and computed against
//! the environment as it is now, its audits passed and every interval it needs is built; for a
//! rollback, the target release exists. Approvals are counted in `gates`.

use kube::ResourceExt;
use sha2::{Digest, Sha256};

use super::context::Context;
use super::error::Result;
use super::gates::gate;
use super::planning::based_on;
use super::promotion::Flip;
use crate::k8s::plan::{Plan, PlanPhase};
use crate::k8s::promotion::{Gate, GateState};
use crate::promote::check_plan;
use crate::state::StateStore;

/// The gates of promoting a plan; the flip when the plan is in a state to be flipped.
pub(super) async fn plan_gates(
    ctx: &Context,
    plan: &Plan,
    env_name: &str,
    url: &str,
) -> Result<(Vec<Gate>, Option<Flip>)> {
    let status = plan.status.clone().unwrap_or_default();
    let mut gates = Vec::new();
    let ready = status.phase == PlanPhase::Ready;
    gates.push(match status.phase {
        PlanPhase::Ready => gate(
            "plan-ready",
            GateState::Passed,
            format!("plan {} is Ready", plan.name_any()),
        ),
        PlanPhase::Failed => gate(
            "plan-ready",
            GateState::Pending,
            format!(
                "plan {} failed: {} (fix it and retry the plan)",
                plan.name_any(),
                status.failure.as_ref().map_or("?".to_string(), |f| format!(
                    "{}: {}",
                    f.model.as_deref().unwrap_or("?"),
                    f.reason
                ))
            ),
        ),
        PlanPhase::Promoted => gate(
            "plan-ready",
            GateState::Failed,
            format!("plan {} is already promoted", plan.name_any()),
        ),
        other => gate(
            "plan-ready",
            GateState::Pending,
            format!("plan {} is {other:?}", plan.name_any()),
        ),
    });
    let name = env_name.to_string();
    let (current, _) = ctx
        .with_warehouse(url, move |wh| based_on(wh, &name))
        .await?;
    let up_to_date = status.based_on.as_ref() == Some(&current);
    gates.push(if up_to_date {
        gate("up-to-date", GateState::Passed, format!(
            "computed against {}",
            current.release.as_deref().unwrap_or("the environment's current state")
        ))
    } else {
        gate("up-to-date", GateState::Pending, format!(
            "environment {env_name} is at {} but the plan was computed against {}: re-planning (earlier approvals no longer count if the digest changes)",
            current.release.as_deref().unwrap_or("no release"),
            status.based_on.as_ref().and_then(|b| b.release.as_deref()).unwrap_or("no release")
        ))
    });
    let audited = plan_condition(plan, "Audited");
    gates.push(gate(
        "audits",
        if audited {
            GateState::Passed
        } else {
            GateState::Pending
        },
        if audited {
            "every blocking audit passed"
        } else {
            "audits run with the backfill"
        },
    ));
    let flip = match (&status.plan_id, ready && up_to_date) {
        (Some(id), true) => {
            let plan_id = id.clone();
            let checked = ctx
                .with_warehouse(url, move |wh| Ok(check_plan(wh, &plan_id).map(|_| ())))
                .await?;
            gates.push(match checked {
                Ok(()) => gate(
                    "no-gaps",
                    GateState::Passed,
                    "every interval the plan needs is built",
                ),
                Err(e) => gate("no-gaps", GateState::Pending, e.to_string()),
            });
            Some(Flip::Plan {
                plan_id: id.clone(),
            })
        }
        _ => {
            gates.push(gate(
                "no-gaps",
                GateState::Pending,
                "checked once the plan is Ready",
            ));
            None
        }
    };
    Ok((gates, flip))
}

fn plan_condition(plan: &Plan, type_: &str) -> bool {
    plan.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == type_ && c.status == "True")
    })
}

/// A plan another Promotion already promoted: this one has nothing left to do.
pub(super) fn superseded(plan: &Plan, gates: &[Gate]) -> Option<String> {
    let promoted = plan
        .status
        .as_ref()
        .is_some_and(|s| s.phase == PlanPhase::Promoted);
    (promoted
        && gates
            .iter()
            .any(|g| g.name == "plan-ready" && g.state == GateState::Failed))
    .then(|| format!("plan {} was promoted by another Promotion", plan.name_any()))
}

/// The gate of a rollback (its target release exists) and the digest approvals bind to.
pub(super) async fn rollback_gate(
    ctx: &Context,
    env_name: &str,
    release: Option<&str>,
    url: &str,
) -> Result<(Gate, String)> {
    let name = env_name.to_string();
    let wanted = release.map(str::to_string);
    let (current, target) = ctx
        .with_warehouse(url, move |wh| {
            let mut state = StateStore::new(wh);
            state.init()?;
            let env = state.environment(&name)?;
            let current = env.and_then(|e| e.release_id);
            let target = match wanted {
                Some(id) => Some(id),
                None => match &current {
                    Some(id) => state.release(id)?.and_then(|r| r.base_release),
                    None => None,
                },
            };
            let exists = match &target {
                Some(id) => state.release(id)?.is_some_and(|r| r.environment == name),
                None => false,
            };
            Ok((current, target.filter(|_| exists)))
        })
        .await?;
    let digest = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(format!(
            "rollback\n{env_name}\n{current:?}\n{target:?}"
        )))
    );
    let gate = match &target {
        Some(id) => gate(
            "rollback-target",
            GateState::Passed,
            format!("re-point {env_name} at the tables of {id}"),
        ),
        None => gate(
            "rollback-target",
            GateState::Failed,
            format!(
                "environment {env_name} has no release {} to roll back to",
                release.unwrap_or("before its current one")
            ),
        ),
    };
    Ok((gate, digest))
}
