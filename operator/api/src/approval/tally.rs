//! Which signed annotations count under an Environment's policy: quorum, approvers by user or
//! verified group, no self-approval (the plan's declared author and the verified creators of
//! the Plan and the Promotion), the plan digest. Pure, so the operator decides with it and
//! `kubectl sluice approve` can say before writing whether an approval would count.

use std::collections::{BTreeMap, BTreeSet};

use super::grammar::{
    APPROVE_PREFIX, LIFT_PREFIX, REJECT_PREFIX, Rejection, Signature, abbreviate, parse_rejection,
    parse_signature,
};
use crate::environment::{Approvers, PromotionPolicy};
use crate::promotion::{ApprovalStatus, Gate, GateState};

/// Who may not approve their own change, as far as the operator knows.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Authors {
    /// The Plan's `spec.author` (declared by whoever wrote the Plan, e.g. from a commit).
    pub plan_author: Option<String>,
    /// The Plan's creator, as admission verified it.
    pub plan_creator: Option<String>,
    /// The Promotion's creator, as admission verified it.
    pub promotion_creator: Option<String>,
    /// Why the creator of an object cannot be told (`promotion p has no sluice.dev/created-by`):
    /// under `allowSelfApproval: false` no approval counts then.
    pub unknown: Vec<String>,
}

impl Authors {
    /// Why `user` may not approve this change, if they may not.
    pub fn excludes(&self, user: &str) -> Option<String> {
        if self.plan_author.as_deref() == Some(user) {
            return Some(format!("{user} authored the plan"));
        }
        if self.plan_creator.as_deref() == Some(user) {
            return Some(format!("{user} created the plan"));
        }
        if self.promotion_creator.as_deref() == Some(user) {
            return Some(format!("{user} created the promotion"));
        }
        None
    }

    /// Why no approval can count when self-approval is not allowed, if none can.
    pub fn unknown_reason(&self) -> Option<String> {
        (!self.unknown.is_empty()).then(|| {
            format!(
                "{}: who created it cannot be told, so approvals do not count (self-approval is \
                 not allowed); recreate it with `kubectl sluice` (which names its creator)",
                self.unknown.join("; ")
            )
        })
    }
}

/// What a tally looks at.
pub struct Ballot<'a> {
    pub annotations: &'a BTreeMap<String, String>,
    pub policy: &'a PromotionPolicy,
    pub required: u32,
    /// The plan digest approvals must name.
    pub digest: &'a str,
    pub authors: &'a Authors,
    /// Approvals already in status, to keep the time each was first seen.
    pub seen: &'a [ApprovalStatus],
    /// RFC 3339, for approvals seen for the first time.
    pub now: &'a str,
    /// Why no approval can be trusted at all (the admission policy is missing), if so.
    pub distrust: Option<&'a str>,
}

/// The approvals a promotion has, under a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalTally {
    pub approvals: Vec<ApprovalStatus>,
    pub counted: u32,
    pub required: u32,
    /// The first rejection from someone allowed to approve.
    pub rejected: Option<Rejection>,
    /// Rejections that did not count, with why.
    pub ignored_rejections: Vec<String>,
    /// Lifts of a recorded rejection from someone allowed to approve, for this digest.
    pub lifts: Vec<Signature>,
    /// Why nothing counted, when nothing could (shown as the gate's message).
    pub blocked: Option<String>,
}

impl ApprovalTally {
    pub fn gate(&self) -> Gate {
        let state = if self.counted >= self.required {
            GateState::Passed
        } else {
            GateState::Pending
        };
        let mut message = format!("{} of {} required approval(s)", self.counted, self.required);
        if state == GateState::Pending {
            match &self.blocked {
                Some(why) => message.push_str(&format!(": {why}")),
                None => message.push_str(": `kubectl sluice approve` as an approver"),
            }
        }
        Gate {
            name: "approvals".into(),
            state,
            message,
        }
    }
}

/// Tallies approvals, rejections and lifts.
pub fn tally(b: &Ballot) -> ApprovalTally {
    let blocked = b.distrust.map(str::to_string).or_else(|| {
        (!b.policy.allow_self_approval)
            .then(|| b.authors.unknown_reason())
            .flatten()
    });
    let mut approvals = Vec::new();
    let mut counted_users = BTreeSet::new();
    for (key, value) in signed(b.annotations, APPROVE_PREFIX) {
        let at = b
            .seen
            .iter()
            .find(|s| s.key == *key && s.digest_matches(value))
            .and_then(|s| s.at.clone())
            .or_else(|| Some(b.now.to_string()));
        let Some(approval) = parse_signature(value) else {
            approvals.push(ApprovalStatus {
                user: String::new(),
                key: key.clone(),
                digest: String::new(),
                groups: vec![],
                at,
                counted: false,
                reason: format!(
                    "cannot read {value:?}: expected <user>@<plan digest> (written by `kubectl sluice approve`)"
                ),
                comment: None,
            });
            continue;
        };
        let verdict = match &blocked {
            Some(why) => Err(why.clone()),
            None => judge(&approval, b, &counted_users),
        };
        if verdict.is_ok() {
            counted_users.insert(approval.user.clone());
        }
        approvals.push(ApprovalStatus {
            user: approval.user,
            key: key.clone(),
            digest: approval.digest,
            groups: approval.groups,
            at,
            counted: verdict.is_ok(),
            reason: verdict.unwrap_or_else(|why| why),
            comment: approval.comment,
        });
    }
    let mut rejected = None;
    let mut ignored_rejections = Vec::new();
    for (key, value) in signed(b.annotations, REJECT_PREFIX) {
        match parse_rejection(value) {
            Some(r) if may_approve(&r.user, &r.groups, &b.policy.approvers) => {
                rejected.get_or_insert(r);
            }
            Some(r) => ignored_rejections.push(format!(
                "{key}: {} is not an approver of this environment; the rejection does not count",
                r.user
            )),
            None => ignored_rejections.push(format!(
                "{key}: cannot read {value:?}: expected \"<user>: <reason>\" (written by \
                 `kubectl sluice reject`)"
            )),
        }
    }
    let lifts = signed(b.annotations, LIFT_PREFIX)
        .filter_map(|(_, value)| parse_signature(value))
        .filter(|l| l.digest == b.digest && may_approve(&l.user, &l.groups, &b.policy.approvers))
        .filter(|l| b.policy.allow_self_approval || b.authors.excludes(&l.user).is_none())
        .filter(|_| blocked.is_none())
        .collect();
    ApprovalTally {
        counted: counted_users.len() as u32,
        required: b.required,
        approvals,
        rejected,
        ignored_rejections,
        lifts,
        blocked,
    }
}

fn signed<'a>(
    annotations: &'a BTreeMap<String, String>,
    prefix: &'a str,
) -> impl Iterator<Item = (&'a String, &'a String)> {
    annotations
        .iter()
        .filter(move |(k, _)| k.starts_with(prefix))
}

/// `Ok(why it counted)` or `Err(why not)`.
fn judge(approval: &Signature, b: &Ballot, counted: &BTreeSet<String>) -> Result<String, String> {
    let user = &approval.user;
    if approval.digest != b.digest {
        return Err(format!(
            "approves plan digest {}, but the plan is now {}: it was re-planned after this approval",
            abbreviate(&approval.digest),
            abbreviate(b.digest)
        ));
    }
    if !may_approve(user, &approval.groups, &b.policy.approvers) {
        return Err(format!(
            "{user} is not an approver of this environment (approvers: {})",
            describe(&b.policy.approvers)
        ));
    }
    if !b.policy.allow_self_approval
        && let Some(why) = b.authors.excludes(user)
    {
        return Err(format!(
            "{why}, and the environment does not allow self-approval"
        ));
    }
    if counted.contains(user) {
        return Err(format!("{user} already approved: counted once"));
    }
    let via = approval
        .groups
        .iter()
        .find(|g| b.policy.approvers.groups.contains(g))
        .filter(|_| !b.policy.approvers.users.contains(user))
        .map(|g| format!(" (as a member of {g})"))
        .unwrap_or_default();
    Ok(format!("counted{via}"))
}

/// Whether `user` (with the verified `groups` they named) is an approver.
pub fn may_approve(user: &str, groups: &[String], approvers: &Approvers) -> bool {
    approvers.is_empty()
        || approvers.users.iter().any(|u| u == user)
        || groups.iter().any(|g| approvers.groups.contains(g))
}

fn describe(approvers: &Approvers) -> String {
    let mut parts = Vec::new();
    if !approvers.users.is_empty() {
        parts.push(format!("users {}", approvers.users.join(", ")));
    }
    if !approvers.groups.is_empty() {
        parts.push(format!("groups {}", approvers.groups.join(", ")));
    }
    parts.join("; ")
}

impl ApprovalStatus {
    fn digest_matches(&self, value: &str) -> bool {
        parse_signature(value).is_some_and(|a| a.digest == self.digest && a.user == self.user)
    }
}

#[cfg(test)]
mod tests;
