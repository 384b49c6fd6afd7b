//! Where the approval gate is decided: which `approve.sluice.dev/*` annotations count under an
//! Environment's policy, and whether a `reject.sluice.dev/*` one stops the promotion.
//!
//! Admission (the chart's ValidatingAdmissionPolicy) already guarantees that an approval
//! annotation names the user who wrote it, that they hold the `approve` verb, and that any
//! groups it lists are groups the API server verified for them. Here the Environment's policy
//! applies: quorum, approvers by user or group, no self-approval, and the plan digest.

use std::collections::{BTreeMap, BTreeSet};

use crate::k8s::environment::PromotionPolicy;
use crate::k8s::promotion::{APPROVE_PREFIX, ApprovalStatus, Gate, GateState, REJECT_PREFIX};

/// An approval annotation's value: `<user>@<digest>[ groups=<g1,g2>][; <comment>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalValue {
    pub user: String,
    pub digest: String,
    pub groups: Vec<String>,
    pub comment: Option<String>,
}

pub fn parse_approval(value: &str) -> Option<ApprovalValue> {
    let (head, comment) = match value.split_once(';') {
        Some((head, comment)) => (
            head.trim(),
            Some(comment.trim().to_string()).filter(|c| !c.is_empty()),
        ),
        None => (value.trim(), None),
    };
    let at = head.find("@sha256:")?;
    let user = head[..at].trim().to_string();
    let rest = &head[at + 1..];
    let (digest, groups) = match rest.split_once(char::is_whitespace) {
        Some((digest, tail)) => {
            let groups = tail
                .trim()
                .strip_prefix("groups=")?
                .split(',')
                .map(|g| g.trim().to_string())
                .filter(|g| !g.is_empty())
                .collect();
            (digest, groups)
        }
        None => (rest, Vec::new()),
    };
    if user.is_empty() || digest.len() <= "sha256:".len() {
        return None;
    }
    Some(ApprovalValue {
        user,
        digest: digest.to_string(),
        groups,
        comment,
    })
}

/// Who may not approve their own change.
#[derive(Debug, Default, Clone)]
pub struct Authors {
    /// The Plan's `spec.author`.
    pub plan_author: Option<String>,
    /// The Promotion's creator, as admission verified it.
    pub creator: Option<String>,
}

/// The approvals a promotion has, under a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalTally {
    pub approvals: Vec<ApprovalStatus>,
    pub counted: u32,
    pub required: u32,
    /// The first rejection from someone allowed to approve: (user, reason).
    pub rejected: Option<(String, String)>,
    /// Rejections that did not count, with why (shown as a gate message).
    pub ignored_rejections: Vec<String>,
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
            message.push_str(": `kubectl sluice approve` as an approver");
        }
        Gate {
            name: "approvals".into(),
            state,
            message,
        }
    }
}

/// Tallies approvals and rejections. `seen`: approvals already in status, to keep the time
/// each was first seen; `now`: RFC 3339 for new ones.
pub fn tally(
    annotations: &BTreeMap<String, String>,
    policy: &PromotionPolicy,
    required: u32,
    digest: &str,
    authors: &Authors,
    seen: &[ApprovalStatus],
    now: &str,
) -> ApprovalTally {
    let mut approvals = Vec::new();
    let mut counted_users = BTreeSet::new();
    for (key, value) in annotations
        .iter()
        .filter(|(k, _)| k.starts_with(APPROVE_PREFIX))
    {
        let at = seen
            .iter()
            .find(|s| s.key == *key && s.digest_matches(value))
            .and_then(|s| s.at.clone())
            .or_else(|| Some(now.to_string()));
        let Some(approval) = parse_approval(value) else {
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
        let (counted, reason) = judge(&approval, policy, digest, authors, &counted_users);
        if counted {
            counted_users.insert(approval.user.clone());
        }
        approvals.push(ApprovalStatus {
            user: approval.user,
            key: key.clone(),
            digest: approval.digest,
            groups: approval.groups,
            at,
            counted,
            reason,
            comment: approval.comment,
        });
    }
    let mut rejected = None;
    let mut ignored_rejections = Vec::new();
    for (key, value) in annotations
        .iter()
        .filter(|(k, _)| k.starts_with(REJECT_PREFIX))
    {
        // `<user>: <reason>`; user names may hold colons (`system:serviceaccount:ns:sa`) but
        // not ": ".
        let (user, reason) = match value.split_once(": ") {
            Some((user, reason)) => (user.trim().to_string(), reason.trim().to_string()),
            None => (
                value.trim().trim_end_matches(':').to_string(),
                String::new(),
            ),
        };
        if may_approve(&user, &[], policy) {
            rejected.get_or_insert((user, reason));
        } else {
            ignored_rejections.push(format!(
                "{key}: {user} is not an approver of this environment; the rejection does not count"
            ));
        }
    }
    ApprovalTally {
        counted: counted_users.len() as u32,
        required,
        approvals,
        rejected,
        ignored_rejections,
    }
}

fn judge(
    approval: &ApprovalValue,
    policy: &PromotionPolicy,
    digest: &str,
    authors: &Authors,
    counted: &BTreeSet<String>,
) -> (bool, String) {
    let user = &approval.user;
    if approval.digest != digest {
        return (
            false,
            format!(
                "approves plan digest {}, but the plan is now {}: it was re-planned after this approval",
                abbreviate(&approval.digest),
                abbreviate(digest)
            ),
        );
    }
    if !may_approve(user, &approval.groups, policy) {
        return (
            false,
            format!(
                "{user} is not an approver of this environment (approvers: {})",
                describe(policy)
            ),
        );
    }
    if !policy.allow_self_approval {
        if authors.plan_author.as_deref() == Some(user.as_str()) {
            return (
                false,
                format!(
                    "{user} authored the plan, and the environment does not allow self-approval"
                ),
            );
        }
        if authors.creator.as_deref() == Some(user.as_str()) {
            return (
                false,
                format!(
                    "{user} created the promotion, and the environment does not allow self-approval"
                ),
            );
        }
    }
    if counted.contains(user) {
        return (false, format!("{user} already approved: counted once"));
    }
    let via = approval
        .groups
        .iter()
        .find(|g| policy.approvers.groups.contains(g))
        .filter(|_| !policy.approvers.users.contains(user))
        .map(|g| format!(" (as a member of {g})"))
        .unwrap_or_default();
    (true, format!("counted{via}"))
}

fn may_approve(user: &str, groups: &[String], policy: &PromotionPolicy) -> bool {
    policy.approvers.is_empty()
        || policy.approvers.users.iter().any(|u| u == user)
        || groups.iter().any(|g| policy.approvers.groups.contains(g))
}

fn describe(policy: &PromotionPolicy) -> String {
    let mut parts = Vec::new();
    if !policy.approvers.users.is_empty() {
        parts.push(format!("users {}", policy.approvers.users.join(", ")));
    }
    if !policy.approvers.groups.is_empty() {
        parts.push(format!("groups {}", policy.approvers.groups.join(", ")));
    }
    parts.join("; ")
}

/// `sha256:1a2b3c4d5e6f…`, short enough for a message.
pub fn abbreviate(digest: &str) -> String {
    if digest.len() > 19 {
        format!("{}…", &digest[..19])
    } else {
        digest.to_string()
    }
}

impl ApprovalStatus {
    fn digest_matches(&self, value: &str) -> bool {
        parse_approval(value).is_some_and(|a| a.digest == self.digest && a.user == self.user)
    }
}

/// A gate from a yes/no/maybe and a message.
pub fn gate(name: &str, state: GateState, message: impl Into<String>) -> Gate {
    Gate {
        name: name.into(),
        state,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::environment::Approvers;

    const D: &str = "sha256:aaaa1111bbbb2222cccc3333dddd4444eeee5555ffff6666aaaa1111bbbb2222";
    const OLD: &str = "sha256:0000111122223333444455556666777788889999aaaabbbbccccddddeeeeffff";

    fn policy(required: u32, users: &[&str], groups: &[&str], self_ok: bool) -> PromotionPolicy {
        PromotionPolicy {
            required_approvals: Some(required),
            approvers: Approvers {
                users: users.iter().map(|s| s.to_string()).collect(),
                groups: groups.iter().map(|s| s.to_string()).collect(),
            },
            allow_self_approval: self_ok,
            ..Default::default()
        }
    }

    fn annotations(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn run(a: &BTreeMap<String, String>, p: &PromotionPolicy, authors: &Authors) -> ApprovalTally {
        tally(a, p, p.required(), D, authors, &[], "2024-01-01T00:00:00Z")
    }

    #[test]
    fn approval_values_parse_with_groups_and_comments() {
        let v = parse_approval(&format!("jane@example.com@{D} groups=data,ops; ship it")).unwrap();
        assert_eq!(v.user, "jane@example.com");
        assert_eq!(v.digest, D);
        assert_eq!(v.groups, ["data", "ops"]);
        assert_eq!(v.comment.as_deref(), Some("ship it"));
        assert!(parse_approval("alice").is_none());
        assert!(parse_approval("alice@sha256:").is_none());
        assert!(parse_approval(&format!("alice@{D} extra")).is_none());
    }

    #[test]
    fn quorum_counts_distinct_allowed_users_for_the_current_digest() {
        let p = policy(2, &["alice", "bob"], &[], false);
        let a = annotations(&[
            ("approve.sluice.dev/alice", format!("alice@{D}")),
            ("approve.sluice.dev/alice-again", format!("alice@{D}")),
            ("approve.sluice.dev/carol", format!("carol@{D}")),
            ("approve.sluice.dev/bob-old", format!("bob@{OLD}")),
        ]);
        let t = run(&a, &p, &Authors::default());
        assert_eq!(t.counted, 1);
        assert_eq!(t.gate().state, GateState::Pending);
        let reasons: Vec<(&str, bool, &str)> = t
            .approvals
            .iter()
            .map(|s| (s.key.as_str(), s.counted, s.reason.as_str()))
            .collect();
        assert!(
            reasons
                .iter()
                .any(|(k, c, r)| *k == "approve.sluice.dev/alice-again"
                    && !c
                    && r.contains("counted once")),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|(_, c, r)| !c && r.contains("carol is not an approver")),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|(_, c, r)| !c && r.contains("re-planned")),
            "{reasons:?}"
        );

        let mut with_bob = a.clone();
        with_bob.insert("approve.sluice.dev/bob".into(), format!("bob@{D}"));
        let t = run(&with_bob, &p, &Authors::default());
        assert_eq!(t.counted, 2);
        assert_eq!(t.gate().state, GateState::Passed);
    }

    #[test]
    fn authors_and_creators_cannot_approve_themselves_unless_allowed() {
        let a = annotations(&[("approve.sluice.dev/alice", format!("alice@{D}"))]);
        let authors = Authors {
            plan_author: Some("alice".into()),
            creator: None,
        };
        let t = run(&a, &policy(1, &[], &[], false), &authors);
        assert_eq!(t.counted, 0);
        assert!(t.approvals[0].reason.contains("authored the plan"));
        let creator = Authors {
            plan_author: None,
            creator: Some("alice".into()),
        };
        let t = run(&a, &policy(1, &[], &[], false), &creator);
        assert!(t.approvals[0].reason.contains("created the promotion"));
        let t = run(&a, &policy(1, &[], &[], true), &authors);
        assert_eq!(t.counted, 1);
    }

    #[test]
    fn group_approvers_count_through_verified_groups() {
        let p = policy(1, &[], &["data-owners"], false);
        let a = annotations(&[(
            "approve.sluice.dev/dan",
            format!("dan@{D} groups=data-owners"),
        )]);
        let t = run(&a, &p, &Authors::default());
        assert_eq!(t.counted, 1);
        assert_eq!(
            t.approvals[0].reason,
            "counted (as a member of data-owners)"
        );
        let a = annotations(&[("approve.sluice.dev/dan", format!("dan@{D}"))]);
        assert_eq!(run(&a, &p, &Authors::default()).counted, 0);
    }

    #[test]
    fn rejections_count_only_from_approvers() {
        let p = policy(1, &["alice"], &[], false);
        let a = annotations(&[
            ("reject.sluice.dev/mallory", "mallory: no".to_string()),
            (
                "reject.sluice.dev/sa",
                "system:serviceaccount:ci:bot: not: yet".to_string(),
            ),
            (
                "reject.sluice.dev/alice",
                "alice: revenue doubles, that is wrong".to_string(),
            ),
        ]);
        let t = run(&a, &p, &Authors::default());
        assert_eq!(
            t.rejected,
            Some(("alice".into(), "revenue doubles, that is wrong".into()))
        );
        assert_eq!(t.ignored_rejections.len(), 2);
        assert!(
            t.ignored_rejections
                .iter()
                .any(|r| r.contains("system:serviceaccount:ci:bot is not an approver")),
            "{:?}",
            t.ignored_rejections
        );
    }

    #[test]
    fn first_seen_times_are_kept() {
        let p = policy(1, &[], &[], false);
        let a = annotations(&[("approve.sluice.dev/alice", format!("alice@{D}"))]);
        let first = tally(&a, &p, 1, D, &Authors::default(), &[], "t1");
        let again = tally(&a, &p, 1, D, &Authors::default(), &first.approvals, "t2");
        assert_eq!(again.approvals[0].at.as_deref(), Some("t1"));
    }
}
