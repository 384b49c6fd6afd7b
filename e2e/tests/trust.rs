//! The approval gate cannot be walked around. Each test is one way a hostile user tried, with
//! kubectl as that user against the shipped roles and admission policies and the real
//! operator: a git source that is an option, a creator approving her own change, an editor
//! rolling prod back, forged approvals with the policy deleted, an approval withdrawn or a
//! rejection added just before the flip, a rejection erased by recreating the Promotion, and a
//! group-only approver whose rejection did not count. (`docs/security.md` maps each actor to
//! these tests.)

mod plugin_support;
mod support;

use std::time::Duration;

use anyhow::Result;
use plugin_support::{Team, groups, status_watch};
use support::{MINUTE, Shop, exists, jsonpath, render, repo, sample_manifest, wait_until};

/// A Plan of a git source, created by the tests' user.
fn git_plan(name: &str, url: &str, revision: &str) -> String {
    support::with_creator(&format!(
        "apiVersion: sluice.dev/v1alpha1\nkind: Plan\nmetadata:\n  name: {name}\nspec:\n  \
         environment: prod\n  source:\n    git: {{url: {}, revision: {}}}\n",
        serde_json::to_string(url).unwrap(),
        serde_json::to_string(revision).unwrap()
    ))
}

/// The Plan CRD as it was before its git fields had patterns (objects stored then are not
/// validated again after an upgrade).
fn plans_crd_without_git_patterns() -> String {
    let text = std::fs::read_to_string(repo().join("crds/sluice.dev_plans.yaml")).unwrap();
    let mut crd: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let git = &mut crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["source"]["properties"]["git"]["properties"];
    for field in ["url", "revision"] {
        git[field].as_object_mut().unwrap().remove("pattern");
    }
    serde_json::to_string(&crd).unwrap()
}

#[test]
fn a_git_url_or_revision_that_is_an_option_runs_nothing_and_the_plan_says_why() -> Result<()> {
    let shop = Shop::start()?;
    let s = &shop.s;
    let dir = tempfile::tempdir()?;
    let marker = dir.path().join("ran");
    let touch = format!("--upload-pack=touch {} #", marker.display());
    let hostile = [
        ("url", touch.clone(), "main".to_string()),
        (
            "revision",
            "https://example.com/models.git".to_string(),
            touch.clone(),
        ),
    ];
    // The CRD refuses both.
    for (field, url, revision) in &hostile {
        let out = s.kubectl_stdin(
            &["apply", "-f", "-"],
            Some(&git_plan(&format!("new-{field}"), url, revision)),
        )?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(&format!("spec.source.git.{field}")),
            "{field}: {err}"
        );
    }
    // A Plan stored before the CRD had these rules: the operator checks again and refuses it.
    s.apply(&plans_crd_without_git_patterns())?;
    for (field, url, revision) in &hostile {
        s.apply(&git_plan(&format!("old-{field}"), url, revision))?;
    }
    s.apply(&git_plan("local", "file:///etc", "main"))?;
    for (plan, message) in [
        ("old-url", "spec.source.git.url: must not contain spaces"),
        (
            "old-revision",
            "spec.source.git.revision: must be a commit, tag or branch",
        ),
        (
            "local",
            "spec.source.git.url: scheme \"file\" is not allowed: use https:// or ssh:// \
             (file:// only when the operator runs with --git-allow-protocol file)",
        ),
    ] {
        let condition =
            shop.wait_condition(&format!("plan/{plan}"), "Stalled", "True/InvalidSource")?;
        assert!(condition.contains(message), "{plan}: {condition}");
        assert!(condition.contains("nothing was fetched"), "{condition}");
    }
    std::thread::sleep(Duration::from_secs(2));
    assert!(!marker.exists(), "git ran a command from a Plan");
    s.kubectl_ok(&["apply", "-f", repo().join("crds").to_str().unwrap()])?;
    Ok(())
}

/// `kubectl sluice render` and `kubectl apply` as `user`: the Plan names them as its creator.
fn render_as(team: &Team, user: &str, name: &str) -> Result<()> {
    let project = repo().join("config/samples/shop");
    let manifests = team.sluice_ok(
        user,
        &[
            "render",
            "--project",
            project.to_str().unwrap(),
            "--environment",
            "prod",
            "--name",
            name,
        ],
    )?;
    let mut args = vec![format!("--as={user}")];
    args.extend(groups(user).iter().map(|g| format!("--as-group={g}")));
    args.extend(["apply", "-f", "-"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = team.shop.s.kubectl_stdin(&args, Some(&manifests))?;
    anyhow::ensure!(out.status.success(), "{out:?}");
    Ok(())
}

/// A Promotion written by hand, created as `user`: its output.
fn create_promotion_as(
    team: &Team,
    user: &str,
    name: &str,
    created_by: Option<&str>,
    spec: &str,
) -> Result<std::process::Output> {
    let annotation = created_by
        .map(|c| format!("\n  annotations:\n    sluice.dev/created-by: \"{c}\""))
        .unwrap_or_default();
    let manifest = format!(
        "apiVersion: sluice.dev/v1alpha1\nkind: Promotion\nmetadata:\n  name: {name}{annotation}\nspec:\n{spec}"
    );
    let mut args = vec![format!("--as={user}")];
    args.extend(groups(user).iter().map(|g| format!("--as-group={g}")));
    args.extend(["create", "-f", "-"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    team.shop.s.kubectl_stdin(&args, Some(&manifest))
}

fn wait_reason(team: &Team, promotion: &str, key: &str, text: &str) -> Result<String> {
    wait_until(
        &format!("{key} on {promotion} to say {text:?}"),
        MINUTE,
        || team.shop.context(),
        || {
            let reason = jsonpath(
                &team.shop.s,
                &format!("promotion/{promotion}"),
                &format!("{{.status.approvals[?(@.key==\"{key}\")].reason}}"),
            );
            reason.contains(text).then_some(reason)
        },
    )
}

#[test]
fn a_creator_cannot_approve_her_own_change_however_it_was_created() -> Result<()> {
    let team = Team::start()?;
    let s = &team.shop.s;
    // Carol (an editor, and an approver through data-owners) writes a Plan with no
    // spec.author: the API server records her as its creator.
    render_as(&team, "carol", "carols")?;
    assert_eq!(
        jsonpath(
            s,
            "plan/carols",
            "{.metadata.annotations.sluice\\.dev/created-by}"
        ),
        "carol"
    );
    team.sluice_exit("carol", &status_watch("plan/carols"), 0)?;
    // Mallory proposes it; a Promotion without its creator, or naming someone else, is refused.
    for named in [None, Some("alice")] {
        let out = create_promotion_as(&team, "mallory", "by-hand", named, "  plan: carols\n")?;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success()
                && err.contains(
                    "a new Promotion must name its creator: add the annotation \
                     sluice.dev/created-by: \"mallory\""
                ),
            "{err}"
        );
    }
    team.sluice_ok("mallory", &["promote", "carols"])?;
    team.shop
        .wait_phase("promotion/carols-prod", "AwaitingApproval")?;
    // Carol's own approval: the plugin says it would not count, and written by hand it does not.
    let (_, err) = team.sluice_exit("carol", &["approve", "carols-prod"], 1)?;
    assert!(
        err.contains("carol created the plan, and the environment does not allow self-approval"),
        "{err}"
    );
    let digest = jsonpath(s, "plan/carols", "{.status.digest}");
    let out = team.annotate_by_hand(
        "carol",
        "carols-prod",
        &format!("approve.sluice.dev/carol=carol@{digest} groups=data-owners"),
    )?;
    assert!(out.status.success(), "{out:?}");
    wait_reason(
        &team,
        "carols-prod",
        "approve.sluice.dev/carol",
        "carol created the plan, and the environment does not allow self-approval",
    )?;
    assert_eq!(
        jsonpath(s, "promotion/carols-prod", "{.status.approvalCount}"),
        "0/2"
    );

    // A Promotion that got in without a creator (the policy was away for a moment): no
    // approval of it counts, and it says why.
    s.kubectl_ok(&["delete", "validatingadmissionpolicy", "sluice-approvals"])?;
    let out = create_promotion_as(&team, "mallory", "no-creator", None, "  plan: carols\n")?;
    assert!(out.status.success(), "{out:?}");
    s.kubectl_ok(&[
        "apply",
        "-f",
        repo()
            .join("config/policy/approval-policy.yaml")
            .to_str()
            .unwrap(),
    ])?;
    let out = team.annotate_by_hand(
        "alice",
        "no-creator",
        &format!("approve.sluice.dev/alice=alice@{digest}"),
    )?;
    assert!(out.status.success(), "{out:?}");
    // Whether the operator saw it while the policy was away or only after, the creator is
    // unknown and nothing counts.
    let reason = wait_reason(
        &team,
        "no-creator",
        "approve.sluice.dev/alice",
        "promotion no-creator",
    )?;
    assert!(
        reason.contains("promotion no-creator has no sluice.dev/created-by")
            || reason
                .contains("promotion no-creator existed while the approval policy was missing"),
        "{reason}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_ne!(team.shop.phase("promotion/no-creator"), "Promoted");
    assert!(!exists(&team.shop.url, "mart.daily_revenue"));
    Ok(())
}

#[test]
fn an_editor_cannot_roll_prod_back_and_a_releaser_can() -> Result<()> {
    let team = Team::start()?;
    let (_, err) = team.sluice_exit("mallory", &["rollback", "prod"], 1)?;
    assert!(
        err.contains(&format!(
            "mallory may not roll back environment {}/prod: that needs the RBAC verb rollback \
             on promotions.sluice.dev, granted by the ClusterRole sluice-releaser",
            team.shop.s.namespace
        )),
        "{err}"
    );
    let rollback = "  rollback: {environment: prod}\n";
    let out = create_promotion_as(&team, "mallory", "undo", Some("mallory"), rollback)?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("mallory may not roll back environment")
            && err.contains("(ClusterRole sluice-releaser or sluice-approver)"),
        "{err}"
    );
    let out = create_promotion_as(&team, "oscar", "undo", Some("oscar"), rollback)?;
    assert!(out.status.success(), "{out:?}");
    // Prod has no release yet: the operator says so at once.
    let c = team
        .shop
        .wait_condition("promotion/undo", "Reconciling", "True/GatesPending")?;
    assert!(
        c.contains("has no release before its current one to roll back to"),
        "{c}"
    );
    Ok(())
}

#[test]
fn without_the_approval_policy_a_forged_approval_does_not_promote() -> Result<()> {
    let team = Team::start()?;
    let s = &team.shop.s;
    team.render_and_apply(&repo().join("config/samples/shop"), "prod", "shop-v1", None)?;
    team.sluice_exit("mallory", &status_watch("plan/shop-v1"), 0)?;
    team.sluice_ok("mallory", &["promote", "shop-v1"])?;
    team.shop
        .wait_phase("promotion/shop-v1-prod", "AwaitingApproval")?;
    s.kubectl_ok(&["delete", "validatingadmissionpolicy", "sluice-approvals"])?;
    let digest = jsonpath(s, "plan/shop-v1", "{.status.digest}");
    for approver in ["alice", "bob"] {
        let out = team.annotate_by_hand(
            "mallory",
            "shop-v1-prod",
            &format!("approve.sluice.dev/{approver}={approver}@{digest}"),
        )?;
        assert!(out.status.success(), "the forgery is admitted: {out:?}");
    }
    let condition = team.shop.wait_condition(
        "promotion/shop-v1-prod",
        "Reconciling",
        "True/ApprovalPolicyMissing",
    )?;
    assert!(
        condition.contains(
            "the approval policy (ValidatingAdmissionPolicy sluice-approvals) is not installed"
        ),
        "{condition}"
    );
    assert_eq!(
        jsonpath(s, "promotion/shop-v1-prod", "{.status.approvalCount}"),
        "0/2"
    );
    let events = s.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=ApprovalPolicyMissing",
        "-o",
        "jsonpath={.items[*].involvedObject.name}",
    ])?;
    assert!(events.contains("shop-v1-prod"), "{events}");
    let metrics = team.shop.operator().metrics();
    assert!(
        metrics.contains(&format!(
            "sluice_approval_policy_verified{{namespace=\"{}\"}} 0",
            s.namespace
        )),
        "{metrics}"
    );
    // The policy back: approvals written while it was away still never count.
    s.kubectl_ok(&[
        "apply",
        "-f",
        repo()
            .join("config/policy/approval-policy.yaml")
            .to_str()
            .unwrap(),
    ])?;
    let message = wait_until(
        "the gap to be named",
        MINUTE,
        || team.shop.context(),
        || {
            let gates = jsonpath(s, "promotion/shop-v1-prod", "{.status.gates}");
            gates
                .contains("existed while the approval policy was missing")
                .then_some(gates)
        },
    )?;
    assert!(
        message.contains("delete it and create a new one"),
        "{message}"
    );
    assert_ne!(team.shop.phase("promotion/shop-v1-prod"), "Promoted");
    assert!(!exists(&team.shop.url, "mart.daily_revenue"));
    Ok(())
}

/// Waits until the operator froze at its `operator-before-promoting:stop` failpoint.
fn wait_frozen(shop: &Shop, which: usize) -> Result<()> {
    wait_until(
        "the operator to freeze before writing Promoting",
        2 * MINUTE,
        || shop.context(),
        || {
            shop.operators[which]
                .logs()
                .contains("failpoint operator-before-promoting: stopping")
                .then_some(())
        },
    )?;
    std::thread::sleep(Duration::from_millis(500));
    Ok(())
}

/// `user` changes an annotation of the prod promotion with plain kubectl.
fn annotate_as(shop: &Shop, user: &str, annotation: &str) -> Result<()> {
    let out = shop.s.kubectl_as(
        user,
        &[],
        &["annotate", "promotion/shop-v1-prod", annotation],
    )?;
    anyhow::ensure!(out.status.success(), "{user}: {out:?}");
    Ok(())
}

#[test]
fn an_approval_withdrawn_or_a_rejection_added_just_before_the_flip_stops_it() -> Result<()> {
    let mut shop = Shop::without_operator(support::postgres::postgres_url())?;
    shop.environments()?;
    let failpoint = [("SLUICE_FAILPOINT", "operator-before-promoting:stop")];
    shop.start_operator(&[], &failpoint)?;
    shop.s.apply(&render(
        &repo().join("config/samples/shop"),
        "prod",
        "shop-v1",
        None,
    )?)?;
    shop.s.apply(&sample_manifest("promotion-prod.yaml"))?;
    shop.wait_phase("promotion/shop-v1-prod", "AwaitingApproval")?;
    shop.approve("shop-v1-prod", "alice")?;
    shop.approve("shop-v1-prod", "bob")?;
    // Every gate passed and the operator decided to flip; bob withdraws before it writes
    // Promoting.
    wait_frozen(&shop, 0)?;
    annotate_as(&shop, "bob", "approve.sluice.dev/bob-")?;
    shop.operators[0].signal("CONT");
    wait_until(
        "the promotion to count one approval again",
        MINUTE,
        || shop.context(),
        || {
            (jsonpath(&shop.s, "promotion/shop-v1-prod", "{.status.approvalCount}") == "1/2"
                && shop.phase("promotion/shop-v1-prod") == "AwaitingApproval")
                .then_some(())
        },
    )?;
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !exists(&shop.url, "mart.daily_revenue"),
        "prod flipped on a withdrawn approval"
    );

    // Again, and this time alice rejects at the last moment.
    shop.operators[0].kill();
    shop.start_operator(&[], &failpoint)?;
    shop.approve("shop-v1-prod", "bob")?;
    wait_frozen(&shop, 1)?;
    annotate_as(
        &shop,
        "alice",
        "reject.sluice.dev/alice=alice: the revenue mart double counts refunds",
    )?;
    shop.operators[1].signal("CONT");
    shop.wait_phase("promotion/shop-v1-prod", "Rejected")?;
    std::thread::sleep(Duration::from_secs(2));
    assert!(!exists(&shop.url, "mart.daily_revenue"));
    assert_eq!(shop.phase("promotion/shop-v1-prod"), "Rejected");
    Ok(())
}

#[test]
fn a_group_only_approver_rejects_and_the_rejection_outlives_the_promotion() -> Result<()> {
    let team = Team::start()?;
    let s = &team.shop.s;
    team.render_and_apply(&repo().join("config/samples/shop"), "prod", "shop-v1", None)?;
    team.sluice_exit("mallory", &status_watch("plan/shop-v1"), 0)?;
    team.sluice_ok("mallory", &["promote", "shop-v1"])?;
    team.shop
        .wait_phase("promotion/shop-v1-prod", "AwaitingApproval")?;
    // Carol approves only as a member of data-owners; her rejection counts the same way.
    team.sluice_ok(
        "carol",
        &[
            "reject",
            "shop-v1-prod",
            "--reason",
            "refunds are double counted",
        ],
    )?;
    team.shop.wait_phase("promotion/shop-v1-prod", "Rejected")?;
    assert_eq!(
        jsonpath(
            s,
            "promotion/shop-v1-prod",
            "{.status.rejection.user} {.status.rejection.groups[0]}"
        ),
        "carol data-owners"
    );
    // Deleting the Promotion and proposing the plan again does not erase the rejection.
    let out = s.kubectl_as(
        "mallory",
        groups("mallory"),
        &["delete", "promotion", "shop-v1-prod"],
    )?;
    assert!(out.status.success(), "{out:?}");
    team.sluice_ok("mallory", &["promote", "shop-v1"])?;
    team.shop.wait_phase("promotion/shop-v1-prod", "Rejected")?;
    let message = jsonpath(s, "promotion/shop-v1-prod", "{.status.message}");
    assert!(
        message.starts_with(&format!(
            "rejected by carol on promotion {}/shop-v1-prod: refunds are double counted",
            s.namespace
        )) && message.contains("stays rejected until the plan changes or an approver lifts it"),
        "{message}"
    );
    let (_, err) = team.sluice_exit("alice", &["approve", "shop-v1-prod"], 1)?;
    assert!(err.contains("is already Rejected"), "{err}");
    // Mallory may not lift it; bob, an approver, does; then the quorum promotes.
    let (_, err) = team.sluice_exit("mallory", &["lift", "shop-v1-prod"], 1)?;
    assert!(err.contains("that needs the RBAC verb approve"), "{err}");
    team.sluice_ok(
        "bob",
        &["lift", "shop-v1-prod", "-m", "refunds fixed upstream"],
    )?;
    team.shop
        .wait_phase("promotion/shop-v1-prod", "AwaitingApproval")?;
    team.sluice_ok("alice", &["approve", "shop-v1-prod"])?;
    team.sluice_ok("bob", &["approve", "shop-v1-prod"])?;
    team.shop.wait_phase("promotion/shop-v1-prod", "Promoted")?;

    // The evidence the operator published: an editor cannot change it, and a copy changed by
    // anyone else is not shown as evidence.
    let evidence = jsonpath(s, "promotion/shop-v1-prod", "{.status.evidence}");
    let out = s.kubectl_as(
        "mallory",
        groups("mallory"),
        &["label", "configmap", &evidence, "forged=yes"],
    )?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("is managed by the Sluice operator"),
        "{err}"
    );
    let (out, _) = team.sluice_exit("mallory", &["evidence", "prod-r1"], 0)?;
    assert!(out.contains("Release prod-r1 of prod"), "{out}");
    // A cluster admin (whom admission lets through) changes one byte.
    let text = jsonpath(
        s,
        &format!("configmap/{evidence}"),
        "{.data.evidence\\.json}",
    );
    let patch = tempfile::NamedTempFile::new()?;
    std::fs::write(
        patch.path(),
        serde_json::json!({"data": {"evidence.json": format!("{text}\n")}}).to_string(),
    )?;
    s.kubectl_ok(&[
        "patch",
        "configmap",
        &evidence,
        "--type=merge",
        "--patch-file",
        patch.path().to_str().unwrap(),
    ])?;
    let (_, err) = team.sluice_exit("mallory", &["evidence", "prod-r1"], 1)?;
    assert!(
        err.contains("is not what the operator recorded for promotion shop-v1-prod"),
        "{err}"
    );
    Ok(())
}
