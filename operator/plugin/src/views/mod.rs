//! What `kubectl sluice get` shows, computed from objects already read: one module per kind
//! (its header and tree), and the lists. Pure functions of the objects and the time, so tests
//! compare their exact output with golden files.

pub mod environment;
pub mod plan;
pub mod promotion;

use kube::ResourceExt;
use sluice_api::conditions::{Condition, RECONCILING, STALLED};
use sluice_api::environment::PromotionPolicy;
use sluice_api::{Environment, Plan, PlanPhase, Promotion, PromotionPhase};

use super::output::{self, Cell, Row, Status, Tone, status};

pub use environment::EnvironmentScene;
pub use plan::PlanScene;
pub use promotion::PromotionScene;

/// One object as `get NAME` shows it: `Label: value` lines, then its tree.
pub trait Scene {
    fn header(&self, color: bool) -> String;
    fn tree(&self) -> Row;

    fn render(&self, now: i64, color: bool) -> String {
        format!(
            "{}\n{}",
            self.header(color),
            output::tree(&[self.tree()], now, color)
        )
    }
}

pub fn promotion_status(phase: PromotionPhase) -> Status {
    let tone = match phase {
        PromotionPhase::Pending => Tone::Waiting,
        PromotionPhase::AwaitingApproval => Tone::Paused,
        PromotionPhase::Promoting => Tone::Progressing,
        PromotionPhase::Promoted => Tone::Good,
        PromotionPhase::Rejected | PromotionPhase::Failed => Tone::Bad,
        PromotionPhase::Superseded => Tone::Warning,
    };
    status(tone, format!("{phase:?}"))
}

pub fn plan_status(phase: PlanPhase) -> Status {
    let tone = match phase {
        PlanPhase::Pending | PlanPhase::Planning | PlanPhase::Backfilling => Tone::Progressing,
        PlanPhase::Ready | PlanPhase::Promoted => Tone::Good,
        PlanPhase::Failed => Tone::Bad,
        PlanPhase::Superseded => Tone::Warning,
    };
    status(tone, format!("{phase:?}"))
}

/// Ready, or why not, from kstatus conditions.
pub fn ready_status(conditions: &[Condition]) -> Status {
    let is = |t: &str| {
        conditions
            .iter()
            .any(|c| c.type_ == t && c.status == "True")
    };
    if is(STALLED) {
        status(Tone::Bad, "Stalled")
    } else if is(RECONCILING) {
        status(Tone::Progressing, "Reconciling")
    } else if is("Ready") {
        status(Tone::Good, "Ready")
    } else {
        status(Tone::Waiting, "NotReady")
    }
}

/// Reconciling reasons that only restate the phase (the tree shows the details).
const PROGRESS: &[&str] = &[
    "AwaitingApproval",
    "GatesPending",
    "Promoting",
    "Planning",
    "Backfilling",
];

/// What a Stalled condition, or a Reconciling one with news (a retry, an error), says, as
/// `Reason: message`.
pub fn trouble(conditions: &[Condition]) -> String {
    conditions
        .iter()
        .filter(|c| c.status == "True")
        .find(|c| {
            c.type_ == STALLED || (c.type_ == RECONCILING && !PROGRESS.contains(&c.reason.as_str()))
        })
        .map(|c| format!("{}: {}", c.reason, c.message))
        .unwrap_or_default()
}

/// How many approvals are needed from whom, in a line: `2 from users alice, bob or groups
/// data-owners; no self-approval`, or `none`.
pub fn policy_text(policy: &PromotionPolicy, rollback: bool) -> String {
    let required = if rollback {
        policy.rollback_approvals
    } else {
        policy.required()
    };
    if required == 0 {
        return if policy.auto && !rollback {
            "none; promotes Ready plans by itself".to_string()
        } else {
            "none".to_string()
        };
    }
    let mut who = Vec::new();
    if !policy.approvers.users.is_empty() {
        who.push(format!("users {}", policy.approvers.users.join(", ")));
    }
    if !policy.approvers.groups.is_empty() {
        who.push(format!("groups {}", policy.approvers.groups.join(", ")));
    }
    let from = if who.is_empty() {
        "anyone with the approve verb".to_string()
    } else {
        who.join(" or ")
    };
    let mut text = format!("{required} from {from}");
    if !policy.allow_self_approval {
        text.push_str("; no self-approval");
    }
    if policy.auto && !rollback {
        text.push_str("; promotes Ready plans by itself");
    }
    text
}

/// What a Promotion does: `plan shop-v1` or `rollback to prod-r1`.
pub fn target(promotion: &Promotion) -> String {
    match (&promotion.spec.plan, &promotion.spec.rollback) {
        (Some(plan), _) => format!("plan {plan}"),
        (None, Some(r)) => match &r.release {
            Some(release) => format!("rollback to {release}"),
            None => "rollback to the previous release".to_string(),
        },
        (None, None) => String::new(),
    }
}

/// The Environment a Promotion acts on, as far as the object itself says.
pub fn promotion_environment(promotion: &Promotion) -> Option<String> {
    promotion
        .status
        .as_ref()
        .and_then(|s| s.environment.clone())
        .or_else(|| {
            promotion
                .spec
                .rollback
                .as_ref()
                .map(|r| r.environment.clone())
        })
}

pub fn environments_table(items: &[Environment], now: i64, color: bool) -> String {
    let headers = ["RELEASE", "MODELS", "STATUS"];
    list_table(items, &headers, now, color, |e| {
        let s = e.status.clone().unwrap_or_default();
        vec![
            Cell::from(s.release.map(|r| r.id).unwrap_or_else(|| "-".into())),
            Cell::from(s.models.to_string()),
            Cell::from(&ready_status(&s.conditions)),
        ]
    })
}

pub fn plans_table(items: &[Plan], now: i64, color: bool) -> String {
    let headers = ["ENVIRONMENT", "STATUS", "CHANGES", "BACKFILL"];
    list_table(items, &headers, now, color, |p| {
        let s = p.status.clone().unwrap_or_default();
        vec![
            Cell::from(p.spec.environment.as_str()),
            Cell::from(&plan_status(s.phase)),
            Cell::from(s.summary.map_or("-".into(), |x| x.changes.to_string())),
            Cell::from(s.backfill.map_or("-".into(), |b| b.progress)),
        ]
    })
}

pub fn promotions_table(items: &[Promotion], now: i64, color: bool) -> String {
    let headers = ["ENVIRONMENT", "TARGET", "STATUS", "APPROVALS"];
    list_table(items, &headers, now, color, |p| {
        let s = p.status.clone().unwrap_or_default();
        vec![
            Cell::from(promotion_environment(p).unwrap_or_else(|| "-".into())),
            Cell::from(target(p)),
            Cell::from(&promotion_status(s.phase)),
            Cell::from(s.approval_count.unwrap_or_else(|| "-".into())),
        ]
    })
}

/// A list: NAME, the `columns` `cells` gives for each item, AGE.
fn list_table<K: kube::Resource>(
    items: &[K],
    columns: &[&str],
    now: i64,
    color: bool,
    cells: impl Fn(&K) -> Vec<Cell>,
) -> String {
    let header: Vec<String> = std::iter::once("NAME")
        .chain(columns.iter().copied())
        .chain(["AGE"])
        .map(String::from)
        .collect();
    let rows: Vec<Vec<Cell>> = items
        .iter()
        .map(|item| {
            let age = output::created(item.meta()).map(|t| output::age(now - t));
            let mut row = vec![Cell::from(item.name_any())];
            row.extend(cells(item));
            row.push(Cell::from(age.unwrap_or_default()));
            row
        })
        .collect();
    output::table(&header, &rows, color)
}

#[cfg(test)]
pub(crate) mod fixtures;
