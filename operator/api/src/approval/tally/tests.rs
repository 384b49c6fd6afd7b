use super::*;
use crate::approval::grammar::parse_rejection;
use crate::environment::Approvers;

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

/// Authors with both creators known (neither of them a test approver).
fn known() -> Authors {
    Authors {
        plan_creator: Some("ci-bot".into()),
        promotion_creator: Some("ci-bot".into()),
        ..Default::default()
    }
}

fn run(a: &BTreeMap<String, String>, p: &PromotionPolicy, authors: &Authors) -> ApprovalTally {
    tally(&Ballot {
        annotations: a,
        policy: p,
        required: p.required(),
        digest: D,
        authors,
        seen: &[],
        now: "2024-01-01T00:00:00Z",
        distrust: None,
    })
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
    let t = run(&a, &p, &known());
    assert_eq!(t.counted, 1);
    assert_eq!(t.gate().state, GateState::Pending);
    let reason = |key: &str| {
        t.approvals
            .iter()
            .find(|s| s.key == key)
            .map(|s| (s.counted, s.reason.clone()))
            .unwrap()
    };
    assert_eq!(
        reason("approve.sluice.dev/alice-again"),
        (false, "alice already approved: counted once".into())
    );
    assert!(
        reason("approve.sluice.dev/carol")
            .1
            .contains("carol is not an approver")
    );
    assert!(
        reason("approve.sluice.dev/bob-old")
            .1
            .contains("re-planned")
    );

    let mut with_bob = a.clone();
    with_bob.insert("approve.sluice.dev/bob".into(), format!("bob@{D}"));
    let t = run(&with_bob, &p, &known());
    assert_eq!(t.counted, 2);
    assert_eq!(t.gate().state, GateState::Passed);
}

#[test]
fn authors_and_creators_cannot_approve_themselves_unless_allowed() {
    let a = annotations(&[("approve.sluice.dev/alice", format!("alice@{D}"))]);
    for (authors, why) in [
        (
            Authors {
                plan_author: Some("alice".into()),
                ..known()
            },
            "alice authored the plan",
        ),
        (
            Authors {
                plan_creator: Some("alice".into()),
                ..known()
            },
            "alice created the plan",
        ),
        (
            Authors {
                promotion_creator: Some("alice".into()),
                ..known()
            },
            "alice created the promotion",
        ),
    ] {
        let t = run(&a, &policy(1, &[], &[], false), &authors);
        assert_eq!(t.counted, 0, "{why}");
        assert_eq!(
            t.approvals[0].reason,
            format!("{why}, and the environment does not allow self-approval")
        );
        assert_eq!(run(&a, &policy(1, &[], &[], true), &authors).counted, 1);
    }
}

#[test]
fn an_unknown_creator_fails_closed() {
    let a = annotations(&[("approve.sluice.dev/alice", format!("alice@{D}"))]);
    let authors = Authors {
        plan_author: Some("carol".into()),
        plan_creator: Some("carol".into()),
        promotion_creator: None,
        unknown: vec!["promotion p has no sluice.dev/created-by".into()],
    };
    let t = run(&a, &policy(1, &[], &[], false), &authors);
    assert_eq!(t.counted, 0);
    assert!(
        t.approvals[0]
            .reason
            .starts_with("promotion p has no sluice.dev/created-by"),
        "{}",
        t.approvals[0].reason
    );
    assert!(
        t.gate().message.contains("approvals do not count"),
        "{:?}",
        t.gate()
    );
    // Self-approval allowed: who created it does not matter.
    assert_eq!(run(&a, &policy(1, &[], &[], true), &authors).counted, 1);
}

#[test]
fn distrust_counts_nothing_and_says_why() {
    let a = annotations(&[("approve.sluice.dev/alice", format!("alice@{D}"))]);
    let p = policy(1, &[], &[], false);
    let t = tally(&Ballot {
        annotations: &a,
        policy: &p,
        required: 1,
        digest: D,
        authors: &known(),
        seen: &[],
        now: "t",
        distrust: Some("the admission policy sluice-approvals is not installed"),
    });
    assert_eq!(t.counted, 0);
    assert_eq!(
        t.gate().message,
        "0 of 1 required approval(s): the admission policy sluice-approvals is not installed"
    );
}

#[test]
fn group_approvers_count_through_verified_groups() {
    let p = policy(1, &[], &["data-owners"], false);
    let a = annotations(&[(
        "approve.sluice.dev/dan",
        format!("dan@{D} groups=data-owners"),
    )]);
    let t = run(&a, &p, &known());
    assert_eq!(t.counted, 1);
    assert_eq!(
        t.approvals[0].reason,
        "counted (as a member of data-owners)"
    );
    let a = annotations(&[("approve.sluice.dev/dan", format!("dan@{D}"))]);
    assert_eq!(run(&a, &p, &known()).counted, 0);
}

#[test]
fn rejections_count_from_approvers_by_name_or_verified_group() {
    let p = policy(1, &["alice"], &["data-owners"], false);
    let a = annotations(&[
        ("reject.sluice.dev/mallory", "mallory: no".to_string()),
        (
            "reject.sluice.dev/sa",
            "system:serviceaccount:ci:bot: not: yet".to_string(),
        ),
        ("reject.sluice.dev/odd", "alice:no".to_string()),
        (
            "reject.sluice.dev/dan",
            "dan groups=data-owners: revenue doubles, that is wrong".to_string(),
        ),
    ]);
    let t = run(&a, &p, &known());
    assert_eq!(
        t.rejected,
        Some(Rejection {
            user: "dan".into(),
            groups: vec!["data-owners".into()],
            reason: "revenue doubles, that is wrong".into()
        })
    );
    assert_eq!(t.ignored_rejections.len(), 3, "{:?}", t.ignored_rejections);
    assert!(
        t.ignored_rejections
            .iter()
            .any(|r| r.contains("system:serviceaccount:ci:bot is not an approver")),
        "{:?}",
        t.ignored_rejections
    );
    assert!(
        t.ignored_rejections
            .iter()
            .any(|r| r.contains("cannot read \"alice:no\"")),
        "{:?}",
        t.ignored_rejections
    );
}

#[test]
fn lifts_count_from_approvers_who_did_not_write_the_change() {
    let p = policy(1, &["alice", "carol"], &[], false);
    let a = annotations(&[
        ("lift.sluice.dev/alice", format!("alice@{D}; checked again")),
        ("lift.sluice.dev/carol", format!("carol@{D}")),
        ("lift.sluice.dev/mallory", format!("mallory@{D}")),
        ("lift.sluice.dev/alice-old", format!("alice@{OLD}")),
    ]);
    let authors = Authors {
        plan_author: Some("carol".into()),
        ..known()
    };
    let t = run(&a, &p, &authors);
    let lifters: Vec<&str> = t.lifts.iter().map(|l| l.user.as_str()).collect();
    assert_eq!(lifters, ["alice"]);
}

#[test]
fn first_seen_times_are_kept() {
    let p = policy(1, &[], &[], false);
    let a = annotations(&[("approve.sluice.dev/alice", format!("alice@{D}"))]);
    let ballot = |seen: &[ApprovalStatus], now: &str| {
        tally(&Ballot {
            annotations: &a,
            policy: &p,
            required: 1,
            digest: D,
            authors: &known(),
            seen,
            now,
            distrust: None,
        })
    };
    let first = ballot(&[], "t1");
    let again = ballot(&first.approvals, "t2");
    assert_eq!(again.approvals[0].at.as_deref(), Some("t1"));
}

/// One row of `config/policy/testdata/annotation-values.yaml`.
#[derive(serde::Deserialize)]
struct Row {
    user: String,
    value: String,
    key: String,
    admitted: bool,
    reads: Option<Reads>,
}

#[derive(serde::Deserialize, Debug, PartialEq)]
struct Reads {
    user: String,
    groups: Vec<String>,
}

#[test]
fn the_shared_table_of_values_reads_as_the_policy_admits() {
    let path =
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
            .join("../../config/policy/testdata/annotation-values.yaml");
    let rows: Vec<Row> = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(rows.len() >= 20);
    for row in rows {
        let value = row.value.replace("<D>", D);
        let reads = if row.key.starts_with(REJECT_PREFIX) {
            parse_rejection(&value).map(|r| Reads {
                user: r.user,
                groups: r.groups,
            })
        } else {
            parse_signature(&value).map(|s| Reads {
                user: s.user,
                groups: s.groups,
            })
        };
        assert_eq!(reads, row.reads, "{}: {value:?}", row.key);
        if row.admitted {
            let reads = reads.expect("an admitted value reads as a value");
            assert_eq!(
                reads.user, row.user,
                "{value:?}: admitted for {}, read as {}",
                row.user, reads.user
            );
        }
    }
}
