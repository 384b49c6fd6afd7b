//! The promotion decision, case by case: every way around the gate that a hostile user tried,
//! and the ordinary cases beside them.

use std::collections::BTreeMap;

use sluice_api::environment::{Approvers, PromotionPolicy};
use sluice_api::plan::BasedOn;

use super::*;
use crate::admission::Trust;
use crate::promotion::inputs::{PromotionFacts, RollbackFacts, WarehouseFacts};

const D: &str = "sha256:aaaa1111bbbb2222cccc3333dddd4444eeee5555ffff6666aaaa1111bbbb2222";
const OLD: &str = "sha256:0000111122223333444455556666777788889999aaaabbbbccccddddeeeeffff";
const NOW: &str = "2026-12-04T10:00:00Z";

fn based() -> BasedOn {
    BasedOn {
        release: Some("prod-r1".into()),
        revision: Some(1),
        environment: Some("prod".into()),
    }
}

/// A Ready, built, up-to-date plan created by carol, promoted by a Promotion carol created,
/// into prod where alice and bob approve, one approval needed, no self-approval.
fn inputs() -> Inputs {
    Inputs {
        promotion: PromotionFacts {
            namespace: "data".into(),
            name: "orders-prod".into(),
            uid: "uid-1".into(),
            resource_version: Some("7".into()),
            annotations: BTreeMap::from([(
                "sluice.dev/created-by".to_string(),
                "carol".to_string(),
            )]),
            created_by: Some("carol".into()),
            seen: vec![],
            policy_missing_at: None,
        },
        target: Target::Plan(Box::new(PlanFacts {
            name: "orders".into(),
            phase: PlanPhase::Ready,
            digest: Some(D.into()),
            plan_id: Some("0123456789abcdef".into()),
            based_on: Some(based()),
            failure: None,
            audited: true,
            author: None,
            created_by: Some("carol".into()),
            policy_missing_at: None,
            unit_tests: Some(sluice_api::plan::UnitTestsStatus {
                passed: 2,
                ..Default::default()
            }),
        })),
        environment: "prod".into(),
        env_name: "prod".into(),
        policy: PromotionPolicy {
            required_approvals: Some(1),
            approvers: Approvers {
                users: vec!["alice".into(), "bob".into(), "carol".into()],
                groups: vec!["data-owners".into()],
            },
            ..Default::default()
        },
        ttl: None,
        flip: None,
        lineage: None,
        trust: Trust::Verified,
        warehouse: WarehouseFacts {
            current: based(),
            built: Some(Ok(())),
            ..Default::default()
        },
        now: NOW.into(),
    }
}

fn with(mut i: Inputs, key: &str, value: &str) -> Inputs {
    i.promotion
        .annotations
        .insert(key.to_string(), value.replace("<D>", D));
    i
}

fn plan(i: &mut Inputs) -> &mut PlanFacts {
    match &mut i.target {
        Target::Plan(p) => p,
        Target::Rollback { .. } => panic!("not a plan promotion"),
    }
}

fn rollback(mut i: Inputs) -> Inputs {
    i.target = Target::Rollback { release: None };
    i.warehouse.rollback = Some(RollbackFacts {
        current: Some("prod-r2".into()),
        target: Some("prod-r1".into()),
        digest: D.into(),
        missing: vec![],
    });
    i
}

fn recorded(by: &str) -> RecordedRejection {
    RecordedRejection {
        user: by.into(),
        groups: vec![],
        reason: "revenue doubles".into(),
        promotion: "data/orders-prod-old".into(),
        at: "2026-12-04T09:00:00Z".into(),
        lifted_by: None,
        lifted_at: None,
        lift_comment: None,
    }
}

fn gate_of<'a>(d: &'a Decision, name: &str) -> &'a Gate {
    d.gates
        .iter()
        .find(|g| g.name == name)
        .unwrap_or_else(|| panic!("no gate {name}: {:?}", d.gates))
}

/// Each hostile case: the inputs, and what must come of them.
struct Case {
    name: &'static str,
    inputs: Inputs,
    flips: bool,
    phase: PromotionPhase,
    /// Text the decision must show (in a gate, an approval's reason or the message).
    says: &'static str,
}

fn cases() -> Vec<Case> {
    let approved = |i| with(i, "approve.sluice.dev/alice", "alice@<D>");
    vec![
        Case {
            name: "an approver's approval of the current digest flips",
            inputs: approved(inputs()),
            flips: true,
            phase: PromotionPhase::Promoting,
            says: "1 of 1 required approval(s)",
        },
        Case {
            name: "a creator approving her own plan (no spec.author) does not count",
            inputs: {
                let mut i = with(inputs(), "approve.sluice.dev/carol", "carol@<D>");
                plan(&mut i).author = None;
                i
            },
            flips: false,
            phase: PromotionPhase::AwaitingApproval,
            says: "carol created the plan, and the environment does not allow self-approval",
        },
        Case {
            name: "the declared author approving does not count",
            inputs: {
                let mut i = with(inputs(), "approve.sluice.dev/bob", "bob@<D>");
                plan(&mut i).author = Some("bob".into());
                i
            },
            flips: false,
            phase: PromotionPhase::AwaitingApproval,
            says: "bob authored the plan",
        },
        Case {
            name: "the promotion's creator approving does not count",
            inputs: {
                let mut i = with(inputs(), "approve.sluice.dev/alice", "alice@<D>");
                i.promotion.created_by = Some("alice".into());
                plan(&mut i).created_by = Some("dave".into());
                i
            },
            flips: false,
            phase: PromotionPhase::AwaitingApproval,
            says: "alice created the promotion",
        },
        Case {
            name: "a Promotion created with plain kubectl (no creator) fails closed",
            inputs: {
                let mut i = approved(inputs());
                i.promotion.created_by = None;
                i
            },
            flips: false,
            phase: PromotionPhase::AwaitingApproval,
            says: "promotion orders-prod has no sluice.dev/created-by",
        },
        Case {
            name: "a Plan without a recorded creator fails closed",
            inputs: {
                let mut i = approved(inputs());
                plan(&mut i).created_by = None;
                i
            },
            flips: false,
            phase: PromotionPhase::AwaitingApproval,
            says: "plan orders has no sluice.dev/created-by",
        },
        Case {
            name: "without the admission policy a forged approval does not count",
            inputs: {
                let mut i = approved(inputs());
                i.trust = Trust::Missing(
                    "the approval policy (ValidatingAdmissionPolicy sluice-approvals) is not \
                     installed"
                        .into(),
                );
                i
            },
            flips: false,
            phase: PromotionPhase::AwaitingApproval,
            says: "is not installed",
        },
        Case {
            name: "approvals on a Promotion seen while the policy was missing never count",
            inputs: {
                let mut i = approved(inputs());
                i.promotion.policy_missing_at = Some("2026-12-04T09:30:00Z".into());
                i
            },
            flips: false,
            phase: PromotionPhase::AwaitingApproval,
            says: "existed while the approval policy was missing (2026-12-04T09:30:00Z)",
        },
        Case {
            name: "a Plan seen while the policy was missing has no trusted creator",
            inputs: {
                let mut i = approved(inputs());
                plan(&mut i).policy_missing_at = Some("2026-12-04T09:30:00Z".into());
                i
            },
            flips: false,
            phase: PromotionPhase::AwaitingApproval,
            says: "its sluice.dev/created-by may be forged",
        },
        Case {
            name: "a rollback created while the policy was missing does not flip",
            inputs: {
                let mut i = rollback(inputs());
                i.promotion.policy_missing_at = Some("2026-12-04T09:30:00Z".into());
                i
            },
            flips: false,
            phase: PromotionPhase::Pending,
            says: "who may roll back is checked at admission",
        },
        Case {
            name: "an operator told to accept unverified approvals counts them",
            inputs: {
                let mut i = approved(inputs());
                i.trust = Trust::Unverified;
                i
            },
            flips: true,
            phase: PromotionPhase::Promoting,
            says: "1 of 1 required approval(s)",
        },
        Case {
            name: "without the admission policy a rollback waits even with no approvals needed",
            inputs: {
                let mut i = rollback(inputs());
                i.trust = Trust::Missing("the approval policy is not installed".into());
                i
            },
            flips: false,
            phase: PromotionPhase::Pending,
            says: "who may roll back is checked at admission",
        },
        Case {
            name: "a rollback with the policy in place needs its extra approvals",
            inputs: {
                let mut i = rollback(inputs());
                i.policy.rollback_approvals = 1;
                i
            },
            flips: false,
            phase: PromotionPhase::AwaitingApproval,
            says: "0 of 1 required approval(s)",
        },
        Case {
            name: "a failing unit test blocks an approved promotion and says which rows differ",
            inputs: {
                let mut i = approved(inputs());
                plan(&mut i).unit_tests = Some(sluice_api::plan::UnitTestsStatus {
                    passed: 1,
                    failed: 1,
                    failures: vec![sluice_api::plan::UnitTestFailure {
                        name: "test_daily".into(),
                        file: "tests/daily.yaml".into(),
                        model: "mart.daily".into(),
                        message: "expected but not returned (day | revenue):\n  2024-01-01 | 11"
                            .into(),
                    }],
                });
                i
            },
            flips: false,
            phase: PromotionPhase::Pending,
            says: "1 of 2 unit test(s) failed — test_daily (tests/daily.yaml): expected but not returned",
        },
        Case {
            name: "a rollback to a release the janitor cleaned fails at once",
            inputs: {
                let mut i = rollback(inputs());
                i.policy.rollback_approvals = 1;
                if let Some(r) = i.warehouse.rollback.as_mut() {
                    r.missing = vec!["s.orders (sluice__s.s__orders__1)".into()];
                }
                i
            },
            flips: false,
            phase: PromotionPhase::Failed,
            says: "can no longer be restored",
        },
        Case {
            name: "a rollback with the policy in place and no extra approvals flips",
            inputs: rollback(inputs()),
            flips: true,
            phase: PromotionPhase::Promoting,
            says: "re-point prod at the tables of prod-r1",
        },
        Case {
            name: "an approval of an older digest does not count",
            inputs: with(
                inputs(),
                "approve.sluice.dev/alice",
                &format!("alice@{OLD}"),
            ),
            flips: false,
            phase: PromotionPhase::AwaitingApproval,
            says: "it was re-planned after this approval",
        },
        Case {
            name: "a rejection recorded for the digest survives a new Promotion",
            inputs: {
                let mut i = approved(inputs());
                i.warehouse.rejection = Some(recorded("bob"));
                i
            },
            flips: false,
            phase: PromotionPhase::Rejected,
            says: "rejected by bob on promotion data/orders-prod-old: revenue doubles",
        },
        Case {
            name: "a lifted rejection no longer stands",
            inputs: {
                let mut i = approved(inputs());
                let mut r = recorded("bob");
                r.lifted_by = Some("alice".into());
                i.warehouse.rejection = Some(r);
                i
            },
            flips: true,
            phase: PromotionPhase::Promoting,
            says: "1 of 1 required approval(s)",
        },
        Case {
            name: "an approver's lift on the new Promotion lifts a recorded rejection",
            inputs: {
                let mut i = with(approved(inputs()), "lift.sluice.dev/bob", "bob@<D>");
                i.warehouse.rejection = Some(recorded("bob"));
                i
            },
            flips: true,
            phase: PromotionPhase::Promoting,
            says: "rejected by bob (revenue doubles), lifted by bob",
        },
        Case {
            name: "the plan's creator cannot lift a rejection of it",
            inputs: {
                let mut i = with(approved(inputs()), "lift.sluice.dev/carol", "carol@<D>");
                i.warehouse.rejection = Some(recorded("bob"));
                i
            },
            flips: false,
            phase: PromotionPhase::Rejected,
            says: "stays rejected until the plan changes or an approver lifts it",
        },
        Case {
            name: "a group-only approver can reject",
            inputs: with(
                approved(inputs()),
                "reject.sluice.dev/dan",
                "dan groups=data-owners: totals are wrong",
            ),
            flips: false,
            phase: PromotionPhase::Rejected,
            says: "rejected by dan: totals are wrong",
        },
        Case {
            name: "`alice:no` is not a rejection by someone called alice:no",
            inputs: with(approved(inputs()), "reject.sluice.dev/x", "alice:no"),
            flips: true,
            phase: PromotionPhase::Promoting,
            says: "1 of 1 required approval(s)",
        },
        Case {
            name: "a plan computed against an older release does not flip",
            inputs: {
                let mut i = approved(inputs());
                i.warehouse.current.release = Some("prod-r2".into());
                i.warehouse.built = None;
                i
            },
            flips: false,
            phase: PromotionPhase::Pending,
            says: "the plan was computed against prod-r1",
        },
        Case {
            name: "a plan whose backfill is incomplete does not flip",
            inputs: {
                let mut i = approved(inputs());
                i.warehouse.built = Some(Err("mart.daily has 2 of 3 batch(es) to go".into()));
                i
            },
            flips: false,
            phase: PromotionPhase::Pending,
            says: "mart.daily has 2 of 3 batch(es) to go",
        },
    ]
}

fn shows(d: &Decision, text: &str) -> bool {
    d.message.contains(text)
        || d.gates.iter().any(|g| g.message.contains(text))
        || d.approvals.iter().any(|a| a.reason.contains(text))
}

#[test]
fn every_hostile_case_is_decided_as_it_must_be() {
    for case in cases() {
        let d = decide(&case.inputs);
        assert_eq!(d.flip.is_some(), case.flips, "{}: {d:#?}", case.name);
        assert_eq!(d.phase, case.phase, "{}: {d:#?}", case.name);
        assert!(
            shows(&d, case.says),
            "{}: expected {:?} in {d:#?}",
            case.name,
            case.says
        );
    }
}

#[test]
fn a_missing_policy_is_the_condition_reason() {
    let mut i = with(inputs(), "approve.sluice.dev/alice", "alice@<D>");
    i.trust = Trust::Missing("the approval policy is not installed".into());
    let d = decide(&i);
    assert_eq!(d.reason, Some(POLICY_MISSING));
    assert!(gate_of(&d, "approvals").message.contains("not installed"));
    assert_eq!(decide(&inputs()).reason, None);
}

#[test]
fn a_rejection_is_recorded_for_its_digest_and_a_lift_for_the_record() {
    let i = with(inputs(), "reject.sluice.dev/bob", "bob: revenue doubles");
    let d = decide(&i);
    let record = d.record.expect("a rejection to record");
    assert_eq!(
        (record.user.as_str(), record.promotion.as_str()),
        ("bob", "data/orders-prod")
    );
    assert_eq!(d.rejection.map(|r| r.recorded), Some(false));

    let mut i = with(
        inputs(),
        "lift.sluice.dev/alice",
        "alice@<D>; checked again",
    );
    i.warehouse.rejection = Some(recorded("bob"));
    let d = decide(&i);
    assert_eq!(d.lift.map(|l| l.user), Some("alice".to_string()));
}

#[test]
fn the_flip_records_who_approved_and_the_people_gates() {
    let i = with(
        with(
            inputs(),
            "approve.sluice.dev/alice",
            "alice@<D>; looks right",
        ),
        "approve.sluice.dev/bob",
        "bob@<D>",
    );
    let d = decide(&i);
    let plan = d.flip.expect("a flip");
    assert_eq!(
        plan.flip,
        Flip::Plan {
            plan_id: "0123456789abcdef".into()
        }
    );
    let users: Vec<&str> = plan.approvals.iter().map(|a| a.user.as_str()).collect();
    assert_eq!(users, ["alice", "bob"]);
    assert_eq!(plan.approvals[0].comment.as_deref(), Some("looks right"));
    let gates: Vec<&str> = plan.gates.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(gates, ["unit-tests", "approvals"], "the evidence's gates");
}

#[test]
fn a_plan_promoted_elsewhere_supersedes_the_promotion() {
    let mut i = inputs();
    plan(&mut i).phase = PlanPhase::Promoted;
    let d = decide(&i);
    assert_eq!(d.phase, PromotionPhase::Superseded);
    assert!(d.flip.is_none());
}
