//! A Promotion: what it promotes, each gate with ✔ / ✖ / … and its message, and every approval
//! and rejection, counted or not and why.

use kube::ResourceExt;
use sluice_api::promotion::{ApprovalStatus, CREATED_BY, GateState, REJECT_PREFIX};
use sluice_api::{Environment, Plan, Promotion};

use super::{Scene, policy_text, promotion_status, target, trouble};
use crate::output::{self, Row, Tone, fields, status};

/// A Promotion with what it refers to (absent when it does not exist or may not be read).
pub struct PromotionScene {
    pub promotion: Promotion,
    pub plan: Option<Plan>,
    pub environment: Option<Environment>,
}

impl Scene for PromotionScene {
    fn header(&self, color: bool) -> String {
        let p = &self.promotion;
        let s = p.status.clone().unwrap_or_default();
        let rollback = p.spec.rollback.is_some();
        let environment = super::promotion_environment(p)
            .or_else(|| self.plan.as_ref().map(|plan| plan.spec.environment.clone()))
            .unwrap_or_default();
        let mut message = s.message.clone();
        if message.is_empty() {
            message = trouble(&s.conditions);
        }
        let approvals = match (&s.approval_count, &self.environment) {
            (Some(count), Some(env)) => {
                format!(
                    "{count} counted; needs {}",
                    policy_text(&env.spec.promotion, rollback)
                )
            }
            (Some(count), None) => count.clone(),
            (None, _) => String::new(),
        };
        let release = s
            .release
            .as_ref()
            .map(|r| format!("{} (promoted {})", r.id, r.promoted_at))
            .unwrap_or_default();
        fields(&[
            ("Name", p.name_any()),
            ("Namespace", p.namespace().unwrap_or_default()),
            ("Environment", environment),
            ("Target", target(p)),
            ("Status", promotion_status(s.phase).paint(color)),
            ("Message", message),
            ("Digest", s.digest.clone().unwrap_or_default()),
            ("Approvals", approvals),
            (
                "Created by",
                p.annotations().get(CREATED_BY).cloned().unwrap_or_default(),
            ),
            ("Release", release),
        ])
    }

    fn tree(&self) -> Row {
        let p = &self.promotion;
        let s = p.status.clone().unwrap_or_default();
        let mut children = Vec::new();
        if !s.gates.is_empty() {
            let gates = s
                .gates
                .iter()
                .map(|g| {
                    let (tone, word) = match g.state {
                        GateState::Passed => (Tone::Good, "Passed"),
                        GateState::Failed => (Tone::Bad, "Failed"),
                        GateState::Pending => (Tone::Waiting, "Pending"),
                    };
                    Row::new(g.name.clone(), "Gate")
                        .status(status(tone, word))
                        .info(g.message.clone())
                })
                .collect();
            children.push(Row::group("gates", gates));
        }
        let mut approvals: Vec<Row> = s.approvals.iter().map(approval_row).collect();
        approvals.extend(self.rejections(s.rejected_by.as_deref()));
        if !approvals.is_empty() {
            children.push(Row::group("approvals", approvals));
        }
        let info = match (&s.approval_count, s.observed_generation) {
            (_, None) => "waiting for the operator".to_string(),
            (Some(count), _) => format!("approvals {count}"),
            (None, _) => String::new(),
        };
        Row::new(p.name_any(), "Promotion")
            .status(promotion_status(s.phase))
            .since(output::created(&p.metadata))
            .info(info)
            .children(children)
    }
}

impl PromotionScene {
    /// `reject.sluice.dev/*` annotations: the one that stopped the promotion, and others.
    fn rejections(&self, rejected_by: Option<&str>) -> Vec<Row> {
        self.promotion
            .annotations()
            .iter()
            .filter(|(k, _)| k.starts_with(REJECT_PREFIX))
            .map(|(_, value)| {
                let (user, reason) = value
                    .split_once(": ")
                    .map_or((value.as_str(), ""), |(u, r)| (u, r));
                let stopped = rejected_by == Some(user);
                let (tone, word, why) = if stopped {
                    (Tone::Bad, "Rejected", reason.to_string())
                } else {
                    (
                        Tone::Warning,
                        "Not counted",
                        format!("{reason} ({user} is not an approver of this environment)"),
                    )
                };
                Row::new(user, "Rejection")
                    .status(status(tone, word))
                    .info(why)
            })
            .collect()
    }
}

fn approval_row(a: &ApprovalStatus) -> Row {
    let name = if a.user.is_empty() {
        a.key.clone()
    } else {
        a.user.clone()
    };
    let (tone, word) = if a.counted {
        (Tone::Good, "Counted")
    } else {
        (Tone::Bad, "Not counted")
    };
    let mut info = a.reason.clone();
    if !a.groups.is_empty() && !a.counted {
        info.push_str(&format!("; groups {}", a.groups.join(", ")));
    }
    if let Some(comment) = &a.comment {
        info.push_str(&format!("; \"{comment}\""));
    }
    Row::new(name, "Approval")
        .status(status(tone, word))
        .since(a.at.as_deref().and_then(output::epoch))
        .info(info)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    #[test]
    fn a_promotion_awaiting_approval_shows_gates_and_why_approvals_count() {
        let scene = PromotionScene {
            promotion: fixtures::promotion_awaiting(),
            plan: Some(fixtures::plan_ready()),
            environment: Some(fixtures::prod()),
        };
        fixtures::golden(
            "promotion_awaiting.txt",
            &scene.render(fixtures::NOW, false),
        );
    }

    #[test]
    fn a_rejected_promotion_names_who_stopped_it() {
        let scene = PromotionScene {
            promotion: fixtures::promotion_rejected(),
            plan: None,
            environment: None,
        };
        fixtures::golden(
            "promotion_rejected.txt",
            &scene.render(fixtures::NOW, false),
        );
    }
}
