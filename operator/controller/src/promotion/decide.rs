//! Where a promotion is decided: from the gathered inputs to the gates, the phase, and — only
//! when every gate passes — the flip. Pure: no API call, no warehouse session, no clock; the
//! table of hostile cases in `tests` runs it directly.

use std::collections::BTreeMap;

use sluice_api::approval::APPROVE_PREFIX;
use sluice_api::approval::{
    ApprovalTally, Authors, Ballot, Signature, abbreviate, parse_signature, tally,
};
use sluice_api::plan::PlanPhase;
use sluice_api::promotion::{ApprovalStatus, Gate, GateState, PromotionPhase, RejectionStatus};
use sluice_engine::evidence::gates::{ApprovalRequirement, approval_requirements};
use sluice_engine::evidence::{GateResult, GateState as EngineGate};
use sluice_engine::products::Owners;
use sluice_engine::snapshot::Approval;
use sluice_warehouse::state::RecordedRejection;

use super::inputs::{Inputs, PlanFacts, Target};

/// What to flip once every gate passes.
#[derive(Debug, Clone, PartialEq)]
pub enum Flip {
    Plan {
        plan_id: String,
    },
    Rollback {
        environment: String,
        release: Option<String>,
    },
}

/// What the release records about the decision that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct FlipPlan {
    pub flip: Flip,
    /// The approvals that counted (quorum and product or classification gates).
    pub approvals: Vec<Approval>,
    /// The people gates as decided here (the engine adds its own checks).
    pub gates: Vec<GateResult>,
}

/// The outcome of one decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub phase: PromotionPhase,
    pub gates: Vec<Gate>,
    pub digest: Option<String>,
    pub approvals: Vec<ApprovalStatus>,
    /// `counted/required`.
    pub approval_count: String,
    pub rejection: Option<RejectionStatus>,
    pub message: String,
    /// A condition reason more precise than the phase, when there is one.
    pub reason: Option<&'static str>,
    /// Set only when every gate passed.
    pub flip: Option<FlipPlan>,
    /// A rejection to record for the digest.
    pub record: Option<RecordedRejection>,
    /// A lift of the recorded rejection to record.
    pub lift: Option<Signature>,
}

/// The condition reason while approvals cannot be trusted.
pub const POLICY_MISSING: &str = "ApprovalPolicyMissing";

/// Decides the promotion.
pub fn decide(inputs: &Inputs) -> Decision {
    let digest = inputs.digest();
    let (mut gates, flip) = match &inputs.target {
        Target::Plan(plan) => {
            if plan.phase == PlanPhase::Promoted {
                return superseded(inputs, plan);
            }
            plan_gates(inputs, plan)
        }
        Target::Rollback { release } => {
            if let Some(cleaned) = cleaned(inputs) {
                return cleaned;
            }
            rollback_gates(inputs, release.as_deref(), distrust(inputs).as_deref())
        }
    };
    let authors = authors(inputs);
    let distrust = distrust(inputs);
    let required = match inputs.target {
        Target::Plan(_) => inputs.policy.required(),
        Target::Rollback { .. } => inputs.policy.rollback_approvals,
    };
    let tally = tally(&Ballot {
        annotations: &inputs.promotion.annotations,
        policy: &inputs.policy,
        required,
        digest: &digest,
        authors: &authors,
        seen: &inputs.promotion.seen,
        now: &inputs.now,
        distrust: distrust.as_deref(),
    });
    let mut decision = Decision {
        phase: PromotionPhase::Pending,
        gates: Vec::new(),
        digest: Some(digest.clone()).filter(|d| !d.is_empty()),
        approvals: tally.approvals.clone(),
        approval_count: format!("{}/{}", tally.counted, tally.required),
        rejection: None,
        message: String::new(),
        reason: None,
        flip: None,
        record: None,
        lift: None,
    };
    let mut product_approvals = Vec::new();
    if let Target::Plan(plan) = &inputs.target
        && plan.plan_id.is_some()
    {
        let (people, used) = people_gates(inputs, &digest, &authors, &tally);
        gates.extend(people);
        product_approvals = used;
        if matches!(inputs.warehouse.built, Some(Ok(()))) {
            gates.extend(inputs.warehouse.product_checks.iter().map(engine_gate));
        }
    }
    gates.push(tally.gate());
    if let Some(r) = &tally.rejected {
        let at = inputs.now.clone();
        let promotion = format!("{}/{}", inputs.promotion.namespace, inputs.promotion.name);
        decision.phase = PromotionPhase::Rejected;
        decision.message = format!("rejected by {}: {}", r.user, r.reason);
        decision.rejection = Some(RejectionStatus {
            user: r.user.clone(),
            groups: r.groups.clone(),
            reason: r.reason.clone(),
            promotion: promotion.clone(),
            at: at.clone(),
            recorded: false,
        });
        decision.record = (!digest.is_empty()).then(|| RecordedRejection {
            user: r.user.clone(),
            groups: r.groups.clone(),
            reason: r.reason.clone(),
            promotion,
            at,
            lifted_by: None,
            lifted_at: None,
            lift_comment: None,
        });
        decision.gates = gates;
        return decision;
    }
    if let Some(recorded) = inputs.warehouse.rejection.as_ref().filter(|r| r.standing()) {
        match tally.lifts.first() {
            Some(lift) => {
                decision.lift = Some(lift.clone());
                gates.push(gate(
                    "rejection",
                    GateState::Passed,
                    format!(
                        "rejected by {} ({}), lifted by {}",
                        recorded.user, recorded.reason, lift.user
                    ),
                ));
            }
            None => {
                decision.phase = PromotionPhase::Rejected;
                decision.message = format!(
                    "rejected by {} on promotion {}: {}; plan digest {} stays rejected until the \
                     plan changes or an approver lifts it (`kubectl sluice lift {}`)",
                    recorded.user,
                    recorded.promotion,
                    recorded.reason,
                    abbreviate(&digest),
                    inputs.promotion.name
                );
                decision.rejection = Some(RejectionStatus {
                    user: recorded.user.clone(),
                    groups: recorded.groups.clone(),
                    reason: recorded.reason.clone(),
                    promotion: recorded.promotion.clone(),
                    at: recorded.at.clone(),
                    recorded: true,
                });
                decision.gates = gates;
                return decision;
            }
        }
    }
    decision.gates = gates;
    let blocked: Vec<&Gate> = decision
        .gates
        .iter()
        .filter(|g| g.state != GateState::Passed)
        .collect();
    if distrust.is_some()
        && blocked
            .iter()
            .any(|g| is_approval_gate(&g.name) || g.name == "rollback-permission")
    {
        decision.reason = Some(POLICY_MISSING);
    }
    match flip {
        Some(flip) if blocked.is_empty() => {
            decision.phase = PromotionPhase::Promoting;
            decision.flip = Some(FlipPlan {
                flip,
                approvals: merge(counted(&tally, &digest, &inputs.now), product_approvals),
                gates: decision
                    .gates
                    .iter()
                    // The evidence records the people's gates and the unit tests.
                    .filter(|g| is_approval_gate(&g.name) || g.name == "unit-tests")
                    .map(as_result)
                    .collect(),
            });
        }
        _ => {
            decision.phase = if blocked.iter().all(|g| is_approval_gate(&g.name)) {
                PromotionPhase::AwaitingApproval
            } else {
                PromotionPhase::Pending
            };
        }
    }
    decision
}

/// A rollback to a release whose tables the janitor dropped can never happen: it fails now,
/// rather than wait for approvals of something impossible.
fn cleaned(inputs: &Inputs) -> Option<Decision> {
    let facts = inputs.warehouse.rollback.as_ref()?;
    let target = facts.target.as_ref()?;
    if facts.missing.is_empty() {
        return None;
    }
    Some(Decision {
        phase: PromotionPhase::Failed,
        gates: vec![gate(
            "rollback-target",
            GateState::Failed,
            format!(
                "release {target} can no longer be restored: the janitor dropped its tables ({}); \
                 promote a plan that rebuilds them instead",
                facts.missing.join(", ")
            ),
        )],
        digest: Some(facts.digest.clone()),
        approvals: inputs.promotion.seen.clone(),
        approval_count: String::new(),
        rejection: None,
        message: format!(
            "release {target} can no longer be restored: the janitor dropped its tables ({})",
            facts.missing.join(", ")
        ),
        reason: None,
        flip: None,
        record: None,
        lift: None,
    })
}

fn superseded(inputs: &Inputs, plan: &PlanFacts) -> Decision {
    Decision {
        phase: PromotionPhase::Superseded,
        gates: Vec::new(),
        digest: plan.digest.clone(),
        approvals: inputs.promotion.seen.clone(),
        approval_count: String::new(),
        rejection: None,
        message: format!("plan {} was promoted by another Promotion", plan.name),
        reason: None,
        flip: None,
        record: None,
        lift: None,
    }
}

/// Why no approval on this Promotion can be trusted, if none can: the approval policy is
/// missing now, or was when the operator first saw the Promotion.
fn distrust(inputs: &Inputs) -> Option<String> {
    if let Some(why) = inputs.trust.distrust() {
        return Some(why.to_string());
    }
    inputs.promotion.policy_missing_at.as_ref().map(|at| {
        format!(
            "promotion {} existed while the approval policy was missing ({at}), so its \
             approvals and creator may have been forged: delete it and create a new one \
             (`kubectl sluice promote`)",
            inputs.promotion.name
        )
    })
}

/// Who may not approve, from the verified creators and the declared author.
fn authors(inputs: &Inputs) -> Authors {
    let mut unknown = Vec::new();
    if inputs.promotion.created_by.is_none() {
        unknown.push(format!(
            "promotion {} has no sluice.dev/created-by",
            inputs.promotion.name
        ));
    }
    let (plan_author, plan_creator) = match &inputs.target {
        Target::Plan(plan) => {
            match (&plan.created_by, &plan.policy_missing_at) {
                (None, _) => {
                    unknown.push(format!("plan {} has no sluice.dev/created-by", plan.name))
                }
                (Some(_), Some(at)) => unknown.push(format!(
                    "plan {} existed while the approval policy was missing ({at}), so its \
                     sluice.dev/created-by may be forged",
                    plan.name
                )),
                (Some(_), None) => {}
            }
            (plan.author.clone(), plan.created_by.clone())
        }
        Target::Rollback { .. } => (None, None),
    };
    Authors {
        plan_author,
        plan_creator,
        promotion_creator: inputs.promotion.created_by.clone(),
        unknown,
    }
}

/// The gates of promoting a plan, and the flip when the plan is in a state to be flipped.
fn plan_gates(inputs: &Inputs, plan: &PlanFacts) -> (Vec<Gate>, Option<Flip>) {
    let name = &plan.name;
    let ready = plan.phase == PlanPhase::Ready;
    let mut gates = vec![match plan.phase {
        PlanPhase::Ready => gate(
            "plan-ready",
            GateState::Passed,
            format!("plan {name} is Ready"),
        ),
        PlanPhase::Failed => gate(
            "plan-ready",
            GateState::Pending,
            format!(
                "plan {name} failed: {} (fix it and retry the plan)",
                plan.failure.as_deref().unwrap_or("?")
            ),
        ),
        PlanPhase::Promoted => gate(
            "plan-ready",
            GateState::Failed,
            format!("plan {name} is already promoted"),
        ),
        other => gate(
            "plan-ready",
            GateState::Pending,
            format!("plan {name} is {other:?}"),
        ),
    }];
    let current = &inputs.warehouse.current;
    let up_to_date = plan.based_on.as_ref() == Some(current);
    gates.push(if up_to_date {
        gate(
            "up-to-date",
            GateState::Passed,
            format!(
                "computed against {}",
                current
                    .release
                    .as_deref()
                    .unwrap_or("the environment's current state")
            ),
        )
    } else {
        gate(
            "up-to-date",
            GateState::Pending,
            format!(
                "environment {} is at {} but the plan was computed against {}: re-planning \
                 (earlier approvals no longer count if the digest changes)",
                inputs.env_name,
                current.release.as_deref().unwrap_or("no release"),
                plan.based_on
                    .as_ref()
                    .and_then(|b| b.release.as_deref())
                    .unwrap_or("no release")
            ),
        )
    });
    gates.push(if plan.audited {
        gate("audits", GateState::Passed, "every blocking audit passed")
    } else {
        gate("audits", GateState::Pending, "audits run with the backfill")
    });
    gates.push(unit_tests_gate(plan));
    gates.push(match &inputs.warehouse.built {
        Some(Ok(())) => gate(
            "no-gaps",
            GateState::Passed,
            "every interval the plan needs is built",
        ),
        Some(Err(e)) => gate("no-gaps", GateState::Pending, e.clone()),
        None => gate(
            "no-gaps",
            GateState::Pending,
            "checked once the plan is Ready",
        ),
    });
    let flip = match (&plan.plan_id, ready && up_to_date) {
        (Some(id), true) => Some(Flip::Plan {
            plan_id: id.clone(),
        }),
        _ => None,
    };
    (gates, flip)
}

/// The project's unit tests: a failing one blocks the promotion and says which rows differ.
fn unit_tests_gate(plan: &PlanFacts) -> Gate {
    match &plan.unit_tests {
        None => gate(
            "unit-tests",
            GateState::Pending,
            "run when the plan is computed",
        ),
        Some(t) if t.failed == 0 && t.passed == 0 => gate(
            "unit-tests",
            GateState::Passed,
            "the project has no unit tests",
        ),
        Some(t) if t.failed == 0 => gate(
            "unit-tests",
            GateState::Passed,
            format!("{} unit test(s) passed", t.passed),
        ),
        Some(t) => {
            let failures: Vec<String> = t
                .failures
                .iter()
                .map(|f| format!("{} ({}): {}", f.name, f.file, f.message))
                .collect();
            gate(
                "unit-tests",
                GateState::Failed,
                format!(
                    "{} of {} unit test(s) failed — {}",
                    t.failed,
                    t.failed + t.passed,
                    failures.join("; ")
                ),
            )
        }
    }
}

/// The gates of a rollback: its target exists, and who may roll back was checked at admission.
fn rollback_gates(
    inputs: &Inputs,
    release: Option<&str>,
    distrust: Option<&str>,
) -> (Vec<Gate>, Option<Flip>) {
    let env = &inputs.env_name;
    let target = inputs
        .warehouse
        .rollback
        .as_ref()
        .and_then(|r| r.target.clone());
    let mut gates = vec![match &target {
        Some(id) => gate(
            "rollback-target",
            GateState::Passed,
            format!("re-point {env} at the tables of {id}"),
        ),
        None => gate(
            "rollback-target",
            GateState::Failed,
            format!(
                "environment {env} has no release {} to roll back to",
                release.unwrap_or("before its current one")
            ),
        ),
    }];
    gates.push(match distrust {
        None => gate(
            "rollback-permission",
            GateState::Passed,
            "its creator holds the RBAC verb rollback (checked at admission)",
        ),
        Some(why) => gate(
            "rollback-permission",
            GateState::Pending,
            format!("who may roll back is checked at admission, but {why}"),
        ),
    });
    let flip = Flip::Rollback {
        environment: env.clone(),
        release: release.map(str::to_string),
    };
    (gates, Some(flip))
}

/// Owner and classification approvals: one gate per requirement, and the approvals that
/// satisfied one (recorded with the release).
fn people_gates(
    inputs: &Inputs,
    digest: &str,
    authors: &Authors,
    tally: &ApprovalTally,
) -> (Vec<Gate>, Vec<Approval>) {
    let policy = &inputs.policy;
    let classifications: BTreeMap<String, Owners> = policy
        .classifications
        .iter()
        .map(|(tag, a)| {
            (
                tag.clone(),
                Owners {
                    users: a.users.clone(),
                    groups: a.groups.clone(),
                },
            )
        })
        .collect();
    let approvals: Vec<Signature> = inputs
        .promotion
        .annotations
        .iter()
        .filter(|(k, _)| k.starts_with(APPROVE_PREFIX))
        .filter_map(|(_, v)| parse_signature(v))
        .filter(|a| a.digest == digest && tally.blocked.is_none())
        .filter(|a| policy.allow_self_approval || authors.excludes(&a.user).is_none())
        .collect();
    let mut gates = Vec::new();
    let mut used: Vec<Approval> = Vec::new();
    for ApprovalRequirement {
        gate: name,
        approvers,
        reason,
    } in approval_requirements(&inputs.warehouse.impact, &classifications)
    {
        if approvers.is_empty() {
            gates.push(gate(
                &name,
                GateState::Passed,
                format!("{reason}; nobody is listed to approve it"),
            ));
            continue;
        }
        match approvals
            .iter()
            .find(|a| approvers.admits(&a.user, &a.groups))
        {
            Some(a) => {
                gates.push(gate(
                    &name,
                    GateState::Passed,
                    format!("{reason}; approved by {}", a.user),
                ));
                if !used.iter().any(|u| u.user == a.user) {
                    used.push(approval(a, &inputs.now));
                }
            }
            None => gates.push(gate(
                &name,
                GateState::Pending,
                format!(
                    "{reason}: waiting for an approval from {} (`kubectl sluice approve`; the \
                     author and the creators of the plan and the promotion do not count unless \
                     self-approval is allowed)",
                    approvers.describe()
                ),
            )),
        }
    }
    (gates, used)
}

/// Whether a gate waits for people (the Promotion is then AwaitingApproval).
pub fn is_approval_gate(name: &str) -> bool {
    name == "approvals" || name.starts_with("owner-approval/") || name.starts_with("policy/")
}

fn engine_gate(g: &GateResult) -> Gate {
    Gate {
        state: match g.state {
            EngineGate::Passed | EngineGate::Skipped => GateState::Passed,
            // A stale product or a lost table blocks until the backfill catches up.
            EngineGate::Failed | EngineGate::Pending => GateState::Pending,
        },
        name: g.name.clone(),
        message: g.message.clone(),
    }
}

fn as_result(g: &Gate) -> GateResult {
    GateResult::new(
        g.name.clone(),
        match g.state {
            GateState::Passed => EngineGate::Passed,
            GateState::Pending => EngineGate::Pending,
            GateState::Failed => EngineGate::Failed,
        },
        g.message.clone(),
    )
}

fn rfc3339_seconds(at: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(at).map_or(0, |t| t.timestamp())
}

fn approval(a: &Signature, now: &str) -> Approval {
    Approval {
        user: a.user.clone(),
        at: rfc3339_seconds(now),
        digest: a.digest.clone(),
        groups: a.groups.clone(),
        comment: a.comment.clone(),
    }
}

fn counted(tally: &ApprovalTally, digest: &str, now: &str) -> Vec<Approval> {
    tally
        .approvals
        .iter()
        .filter(|a| a.counted)
        .map(|a| Approval {
            user: a.user.clone(),
            at: rfc3339_seconds(a.at.as_deref().unwrap_or(now)),
            digest: digest.to_string(),
            groups: a.groups.clone(),
            comment: a.comment.clone(),
        })
        .collect()
}

/// The quorum's approvals, plus those that satisfied a product gate only.
fn merge(mut counted: Vec<Approval>, products: Vec<Approval>) -> Vec<Approval> {
    for approval in products {
        if !counted.iter().any(|a| a.user == approval.user) {
            counted.push(approval);
        }
    }
    counted
}

/// A gate from a state and a message.
pub fn gate(name: &str, state: GateState, message: impl Into<String>) -> Gate {
    Gate {
        name: name.into(),
        state,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests;
