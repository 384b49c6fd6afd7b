//! Approvals no one can forge, through `kubectl sluice`: the real plugin (found by kubectl on
//! the PATH) against a cluster with RBAC, the shipped roles and approval policy, and the real
//! operator. Alice and bob approve, carol approves through the data-owners group, mallory
//! proposes releases but may not approve them.

mod plugin_support;
mod support;

use std::time::Duration;

use anyhow::Result;
use plugin_support::{Team, golden, kubectl_sluice, normalize, status_watch};
use support::{MINUTE, exists, jsonpath, repo, wait_until};

/// Waits until the operator shows `count` (`1/2`) on the promotion.
fn wait_count(team: &Team, promotion: &str, count: &str) -> Result<()> {
    let s = &team.shop.s;
    wait_until(
        &format!("promotion {promotion} to count {count}"),
        MINUTE,
        || team.shop.context(),
        || {
            (jsonpath(
                s,
                &format!("promotion/{promotion}"),
                "{.status.approvalCount}",
            ) == count)
                .then_some(())
        },
    )
}

/// Waits until an approval's reason (by annotation key) contains `text`.
fn wait_reason(team: &Team, promotion: &str, key: &str, text: &str) -> Result<String> {
    let s = &team.shop.s;
    wait_until(
        &format!("{key} on {promotion} to say {text:?}"),
        2 * MINUTE,
        || team.shop.context(),
        || {
            let reason = jsonpath(
                s,
                &format!("promotion/{promotion}"),
                &format!("{{.status.approvals[?(@.key==\"{key}\")].reason}}"),
            );
            reason.contains(text).then_some(reason)
        },
    )
}

#[test]
fn the_policy_and_the_environment_decide_whose_approval_counts() -> Result<()> {
    let team = Team::start()?;
    let s = &team.shop.s;
    let shop = repo().join("config/samples/shop");
    team.render_and_apply(&shop, "prod", "shop-v1", Some("carol@example.com"))?;
    let v2 = plugin_support::changed_shop()?;
    team.render_and_apply(v2.path(), "prod", "shop-v2", Some("carol@example.com"))?;
    for plan in ["plan/shop-v1", "plan/shop-v2"] {
        let (out, _) = team.sluice_exit("mallory", &status_watch(plan), 0)?;
        assert!(out.contains("Ready - ready to promote (sha256:"), "{out}");
    }

    // Mallory proposes both releases; the Promotions carry her name as their creator.
    let out = team.sluice_ok("mallory", &["promote", "shop-v1"])?;
    assert!(
        out.starts_with("promotion.sluice.dev/shop-v1-prod created: promotes plan shop-v1 into prod (created by mallory)"),
        "{out}"
    );
    assert_eq!(
        jsonpath(
            s,
            "promotion/shop-v1-prod",
            "{.metadata.annotations.sluice\\.dev/created-by}"
        ),
        "mallory"
    );
    team.sluice_ok("mallory", &["promote", "shop-v2"])?;
    let (_, err) = team.sluice_exit("mallory", &["promote", "shop-v1"], 1)?;
    assert!(
        err.contains("plan shop-v1 already has promotion shop-v1-prod on its way"),
        "{err}"
    );
    team.shop
        .wait_phase("promotion/shop-v1-prod", "AwaitingApproval")?;

    // `status` tells a CI script where things stand: 3 awaiting approval, 2 timed out.
    let (out, _) = team.sluice_exit("bob", &["status", "shop-v1-prod"], 3)?;
    assert_eq!(
        out,
        "promotion shop-v1-prod: AwaitingApproval - approvals 0/2: kubectl sluice approve shop-v1-prod\n"
    );
    let (out, _) = team.sluice_exit(
        "bob",
        &["status", "shop-v1-prod", "--watch", "--timeout", "2s"],
        2,
    )?;
    assert!(
        out.contains("timed out after 2s: promotion shop-v1-prod: AwaitingApproval"),
        "{out}"
    );

    // Mallory may not approve: the approval policy says so, and the plugin shows its message.
    let (_, err) = team.sluice_exit("mallory", &["approve", "shop-v1-prod"], 1)?;
    assert!(
        err.contains(&format!(
            "denied by the approval policy (403): mallory may not approve or reject promotion {}/shop-v1-prod: \
             that needs the RBAC verb approve on promotions.sluice.dev (ClusterRole sluice-approver)",
            s.namespace
        )),
        "{err}"
    );
    // Nor write an approval in alice's name, with any tool.
    let digest = jsonpath(s, "plan/shop-v1", "{.status.digest}");
    let forged = team.annotate_by_hand(
        "mallory",
        "shop-v1-prod",
        &format!("approve.sluice.dev/alice=alice@{digest}"),
    )?;
    let err = String::from_utf8_lossy(&forged.stderr);
    assert!(
        !forged.status.success()
            && err.contains("approve.sluice.dev/alice: an approval or rejection must carry your own user name: write \"mallory@<plan digest>\""),
        "{err}"
    );
    // Nor pretend to be alice: she may not impersonate (her own credentials, not the admin's).
    if let Some(cluster) = s.local() {
        let out = kubectl_sluice(
            &cluster.kubeconfig_path("mallory"),
            &[
                "approve",
                "shop-v1-prod",
                "-n",
                &s.namespace,
                "--as",
                "alice",
            ],
        )
        .output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("forbidden") && err.contains("impersonate"),
            "{err}"
        );
    }

    // Alice approves, then approves again: one annotation, her own, counted once.
    let out = team.sluice_ok(
        "alice",
        &[
            "approve",
            "shop-v1-prod",
            "--comment",
            "checked the backfill",
        ],
    )?;
    assert!(
        out.starts_with("promotion shop-v1-prod approved by alice for plan shop-v1 at sha256:"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "approve.sluice.dev/alice: alice@{digest}; checked the backfill"
        )),
        "{out}"
    );
    wait_count(&team, "shop-v1-prod", "1/2")?;
    team.sluice_ok(
        "alice",
        &[
            "approve",
            "shop-v1-prod",
            "--comment",
            "checked the backfill",
        ],
    )?;
    let annotations = jsonpath(s, "promotion/shop-v1-prod", "{.metadata.annotations}");
    assert_eq!(
        annotations.matches("approve.sluice.dev/").count(),
        1,
        "{annotations}"
    );
    // A second annotation of hers (written by hand) is admitted but counts once.
    team.annotate_by_hand(
        "alice",
        "shop-v1-prod",
        &format!("approve.sluice.dev/alice-again=alice@{digest}"),
    )?;
    wait_reason(
        &team,
        "shop-v1-prod",
        "approve.sluice.dev/alice-again",
        "alice already approved: counted once",
    )?;
    assert_eq!(
        jsonpath(s, "promotion/shop-v1-prod", "{.status.approvalCount}"),
        "1/2"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        team.shop.phase("promotion/shop-v1-prod"),
        "AwaitingApproval"
    );
    assert!(
        !exists(&team.shop.url, "mart.daily_revenue"),
        "one approval of two flips nothing"
    );

    // Alice approves shop-v2 as it is now planned (against no release yet).
    let old_v2 = jsonpath(s, "plan/shop-v2", "{.status.digest}");
    team.shop
        .wait_phase("promotion/shop-v2-prod", "AwaitingApproval")?;
    team.sluice_ok("alice", &["approve", "shop-v2-prod"])?;
    wait_count(&team, "shop-v2-prod", "1/2")?;

    // Bob's approval is the second: prod flips.
    team.sluice_ok("bob", &["approve", "shop-v1-prod"])?;
    let (out, _) = team.sluice_exit("bob", &status_watch("shop-v1-prod"), 0)?;
    assert!(
        out.ends_with("promotion shop-v1-prod: Promoted - release prod-r1 is live\n"),
        "{out}"
    );
    assert!(exists(&team.shop.url, "mart.daily_revenue"));
    let shown = team.sluice_ok("bob", &["get", "promotion", "shop-v1-prod"])?;
    golden("promotion_promoted.txt", &normalize(&shown, &s.namespace));

    // shop-v2 was computed against an older prod: re-planned, its digest changed, and alice's
    // approval of the old digest no longer counts — until she approves what is planned now.
    wait_until(
        "shop-v2 to be re-planned and Ready",
        2 * MINUTE,
        || team.shop.context(),
        || {
            let d = jsonpath(s, "plan/shop-v2", "{.status.digest}");
            (!d.is_empty() && d != old_v2 && team.shop.phase("plan/shop-v2") == "Ready")
                .then_some(())
        },
    )?;
    wait_reason(
        &team,
        "shop-v2-prod",
        "approve.sluice.dev/alice",
        "re-planned after this approval",
    )?;
    wait_count(&team, "shop-v2-prod", "0/2")?;
    let shown = team.sluice_ok("alice", &["inspect", "promotion", "shop-v2-prod"])?;
    assert!(
        shown.contains("✖ Not counted") && shown.contains("it was re-planned after this approval"),
        "{shown}"
    );
    team.sluice_ok("alice", &["approve", "shop-v2-prod"])?;
    wait_reason(&team, "shop-v2-prod", "approve.sluice.dev/alice", "counted")?;
    wait_count(&team, "shop-v2-prod", "1/2")?;
    Ok(())
}

#[test]
fn authors_cannot_approve_their_own_plan_groups_count_and_a_rejection_stops_the_promotion()
-> Result<()> {
    let team = Team::start()?;
    let s = &team.shop.s;
    team.render_and_apply(
        &repo().join("config/samples/shop"),
        "prod",
        "alice-change",
        Some("alice"),
    )?;
    team.sluice_exit("mallory", &status_watch("plan/alice-change"), 0)?;
    team.sluice_ok(
        "mallory",
        &["promote", "alice-change", "--name", "release-1"],
    )?;
    team.shop
        .wait_phase("promotion/release-1", "AwaitingApproval")?;

    // Alice wrote the change: the plugin refuses, and an annotation written by hand is
    // admitted (she is an approver) but does not count.
    let (_, err) = team.sluice_exit("alice", &["approve", "release-1"], 1)?;
    assert!(
        err.contains(&format!(
            "not approving promotion {}/release-1 as alice: it would not count: alice authored the plan, \
             and the environment does not allow self-approval",
            s.namespace
        )),
        "{err}"
    );
    let digest = jsonpath(s, "plan/alice-change", "{.status.digest}");
    let out = team.annotate_by_hand(
        "alice",
        "release-1",
        &format!("approve.sluice.dev/alice=alice@{digest}"),
    )?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_reason(
        &team,
        "release-1",
        "approve.sluice.dev/alice",
        "authored the plan",
    )?;

    // Carol approves as a member of data-owners: the plugin names the group, the policy checks
    // she is in it, the operator counts her through it.
    let out = team.sluice_ok("carol", &["approve", "release-1"])?;
    assert!(
        out.contains("approved by carol (groups data-owners)"),
        "{out}"
    );
    assert!(
        out.contains(&format!("carol@{digest} groups=data-owners")),
        "{out}"
    );
    wait_reason(
        &team,
        "release-1",
        "approve.sluice.dev/carol",
        "counted (as a member of data-owners)",
    )?;
    wait_count(&team, "release-1", "1/2")?;

    // Mallory may not reject; bob may, and the promotion stops.
    let (_, err) = team.sluice_exit("mallory", &["reject", "release-1", "--reason", "no"], 1)?;
    assert!(
        err.contains("denied by the approval policy (403): mallory may not approve or reject"),
        "{err}"
    );
    let out = team.sluice_ok(
        "bob",
        &[
            "reject",
            "release-1",
            "--reason",
            "revenue doubles on 2024-01-03",
        ],
    )?;
    assert_eq!(
        out,
        "promotion release-1 rejected by bob: revenue doubles on 2024-01-03\n"
    );
    let (out, _) = team.sluice_exit("bob", &status_watch("release-1"), 1)?;
    assert!(
        out.ends_with(
            "promotion release-1: Rejected - rejected by bob: revenue doubles on 2024-01-03\n"
        ),
        "{out}"
    );
    team.sluice_exit("alice", &["status", "release-1"], 1)?;
    let shown = team.sluice_ok("alice", &["get", "promotion", "release-1"])?;
    golden("promotion_rejected.txt", &normalize(&shown, &s.namespace));
    let (_, err) = team.sluice_exit("bob", &["approve", "release-1"], 1)?;
    assert!(
        err.contains("promotion release-1 is already Rejected"),
        "{err}"
    );
    assert!(
        !exists(&team.shop.url, "mart.daily_revenue"),
        "a rejected promotion flips nothing"
    );
    Ok(())
}
