//! The admission policies the chart ships (`config/policy`) with the roles it ships
//! (`config/rbac`), exercised with real kubectl against RBAC: who may write which
//! `approve.sluice.dev/*`, `reject.sluice.dev/*`, `lift.sluice.dev/*` and
//! `sluice.dev/created-by` annotations, who may create a rollback, who may write the ConfigMaps
//! the operator manages, and what the denials say.

use std::path::PathBuf;
use std::process::Output;

use sluice_e2e::{Scenario, TestCluster};

/// A plan digest as the engine writes them.
const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn repo() -> PathBuf {
    std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a kubectl call succeeded.
fn ok(out: Output) {
    assert!(out.status.success(), "expected success: {}", stderr(&out));
}

/// Asserts a kubectl call was denied by the policy with `message`.
fn denied(out: Output, message: &str) {
    assert!(!out.status.success(), "expected a denial with {message:?}");
    let err = stderr(&out);
    assert!(
        err.contains("ValidatingAdmissionPolicy 'sluice-approvals' with binding 'sluice-approvals' denied request")
            && err.contains(message),
        "expected {message:?} in: {err}"
    );
}

/// A cluster with the Promotion CRD, the policy and the shipped roles: alice and carol approve
/// (carol through the data-owners group), bob edits, dave only views.
fn scenario() -> Scenario {
    let s = Scenario::start_with(TestCluster::builder().rbac(true)).unwrap();
    s.apply(&read("crds/sluice.dev_promotions.yaml")).unwrap();
    s.apply(&read("crds/sluice.dev_plans.yaml")).unwrap();
    for file in [
        "config/rbac/approver.yaml",
        "config/rbac/editor.yaml",
        "config/rbac/viewer.yaml",
        "config/rbac/releaser.yaml",
        "config/policy/approval-policy.yaml",
        "config/policy/approval-policy-binding.yaml",
        "config/policy/managed-objects-policy.yaml",
        "config/policy/managed-objects-policy-binding.yaml",
    ] {
        s.apply(&read(file)).unwrap();
    }
    let binding = |name: &str, role: &str, kind: &str, subject: &str| {
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: {name}}}\n\
             roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {role}}}\n\
             subjects: [{{kind: {kind}, apiGroup: rbac.authorization.k8s.io, name: \"{subject}\"}}]\n"
        )
    };
    for manifest in [
        binding("alice-approves", "sluice-approver", "User", "alice"),
        binding(
            "jane-approves",
            "sluice-approver",
            "User",
            "jane@example.com",
        ),
        binding("owners-approve", "sluice-approver", "Group", "data-owners"),
        binding("bob-edits", "sluice-editor", "User", "bob"),
        binding("dave-views", "sluice-viewer", "User", "dave"),
        binding("oscar-releases", "sluice-releaser", "User", "oscar"),
        binding("odd-approves", "sluice-approver", "User", "odd;name"),
        binding("eve-approves", "sluice-approver", "User", "eve:"),
    ] {
        s.apply(&manifest).unwrap();
    }
    s
}

/// The groups each user arrives with (impersonation carries only these).
fn groups(user: &str) -> &'static [&'static str] {
    match user {
        "alice" => &["devs"],
        "carol" => &["data-owners", "devs"],
        "eve:" => &["data-owners"],
        "admin" => &["system:masters"],
        _ => &[],
    }
}

fn as_user(s: &Scenario, user: &str, args: &[&str]) -> Output {
    s.kubectl_as(user, groups(user), args).unwrap()
}

fn create_promotion(s: &Scenario, user: &str, name: &str, created_by: Option<&str>) -> Output {
    create(
        s,
        user,
        "Promotion",
        name,
        created_by,
        "  plan: orders-v2\n",
    )
}

/// Creates a Plan or Promotion with `spec` as `user`, naming `created_by` as its creator.
fn create(
    s: &Scenario,
    user: &str,
    kind: &str,
    name: &str,
    created_by: Option<&str>,
    spec: &str,
) -> Output {
    let annotation = created_by
        .map(|c| format!("\n  annotations:\n    sluice.dev/created-by: \"{c}\""))
        .unwrap_or_default();
    let manifest = format!(
        "apiVersion: sluice.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}{annotation}\nspec:\n{spec}"
    );
    let mut args = vec![format!("--as={user}")];
    args.extend(groups(user).iter().map(|g| format!("--as-group={g}")));
    args.extend(["create", "-f", "-"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    s.kubectl_stdin(&args, Some(&manifest)).unwrap()
}

fn annotate(s: &Scenario, user: &str, promotion: &str, annotation: &str) -> Output {
    as_user(
        s,
        user,
        &[
            "annotate",
            "promotion",
            promotion,
            "--overwrite",
            annotation,
        ],
    )
}

fn annotation(s: &Scenario, promotion: &str, key: &str) -> String {
    let key = key.replace('.', "\\.");
    s.kubectl_ok(&[
        "get",
        "promotion",
        promotion,
        "-o",
        &format!("jsonpath={{.metadata.annotations.{key}}}"),
    ])
    .unwrap()
}

#[test]
fn a_new_promotion_or_plan_must_name_its_creator_and_only_its_creator() {
    let s = scenario();
    ok(create_promotion(&s, "bob", "by-bob", Some("bob")));
    assert_eq!(annotation(&s, "by-bob", "sluice.dev/created-by"), "bob");
    for named in [None, Some("alice")] {
        denied(
            create_promotion(&s, "bob", "as-alice", named),
            "a new Promotion must name its creator: add the annotation sluice.dev/created-by: \"bob\"",
        );
    }
    let plan = "  environment: prod\n  source:\n    configMap: {name: orders-v2-source}\n";
    ok(create(&s, "bob", "Plan", "orders-v2", Some("bob"), plan));
    denied(
        create(&s, "bob", "Plan", "plain", None, plan),
        "a new Plan must name its creator: add the annotation sluice.dev/created-by: \"bob\"",
    );
    // Approvals are counted on Promotions only.
    denied(
        as_user(
            &s,
            "admin",
            &[
                "annotate",
                "plan",
                "orders-v2",
                &format!("approve.sluice.dev/admin=admin@{DIGEST}"),
            ],
        ),
        "approvals, rejections and lifts belong on a Promotion, not a Plan",
    );
    // The creator cannot be rewritten or dropped afterwards, not even by a cluster admin.
    for (user, change) in [
        ("bob", "sluice.dev/created-by=carol"),
        ("admin", "sluice.dev/created-by=admin"),
        ("bob", "sluice.dev/created-by-"),
    ] {
        denied(
            as_user(
                &s,
                user,
                &["annotate", "promotion", "by-bob", "--overwrite", change],
            ),
            "sluice.dev/created-by cannot be added, changed or removed",
        );
    }
    // A viewer cannot create one at all (RBAC, before admission).
    let dave = create_promotion(&s, "dave", "by-dave", Some("dave"));
    assert!(!dave.status.success());
    assert!(
        stderr(&dave).contains("cannot create resource \"promotions\""),
        "{}",
        stderr(&dave)
    );
}

#[test]
fn approvals_carry_the_approvers_own_name_and_a_plan_digest() {
    let s = scenario();
    ok(create_promotion(&s, "bob", "release", Some("bob")));

    // Alice writing bob's name, or no name at all: denied, saying what to write.
    denied(
        annotate(
            &s,
            "alice",
            "release",
            &format!("approve.sluice.dev/bob=bob@{DIGEST}"),
        ),
        "approve.sluice.dev/bob: an approval or rejection must carry your own user name: write \"alice@<plan digest>\"",
    );
    denied(
        annotate(
            &s,
            "alice",
            "release",
            &format!("approve.sluice.dev/alice={DIGEST}"),
        ),
        "must carry your own user name",
    );
    // A user whose name is a prefix of another's cannot borrow it.
    denied(
        annotate(
            &s,
            "alice",
            "release",
            &format!("approve.sluice.dev/alice=alicex@{DIGEST}"),
        ),
        "must carry your own user name",
    );
    // Her own name with something that is not a digest: denied, naming the format.
    denied(
        annotate(
            &s,
            "alice",
            "release",
            "approve.sluice.dev/alice=alice@sha256:abc",
        ),
        "cannot read the approval \"alice@sha256:abc\": expected <user name>@sha256:<64 hex digits of the plan digest>",
    );
    // Her own name and a digest, then with a comment: admitted.
    ok(annotate(
        &s,
        "alice",
        "release",
        &format!("approve.sluice.dev/alice=alice@{DIGEST}"),
    ));
    ok(annotate(
        &s,
        "alice",
        "release",
        &format!("approve.sluice.dev/alice=alice@{DIGEST}; checked the backfill; ship it"),
    ));
    assert_eq!(
        annotation(&s, "release", "approve.sluice.dev/alice"),
        format!("alice@{DIGEST}; checked the backfill; ship it")
    );
    // User names with `@` (e-mail addresses) work: the name is matched as a whole prefix.
    ok(annotate(
        &s,
        "jane@example.com",
        "release",
        &format!("approve.sluice.dev/jane=jane@example.com@{DIGEST}"),
    ));
    // Bob may edit promotions but does not hold the approve verb.
    denied(
        annotate(
            &s,
            "bob",
            "release",
            &format!("approve.sluice.dev/bob=bob@{DIGEST}"),
        ),
        &format!(
            "bob may not approve or reject promotion {}/release: that needs the RBAC verb approve on promotions.sluice.dev",
            s.namespace
        ),
    );
    // Unrelated edits by anyone allowed to patch pass, leaving approvals alone.
    ok(as_user(
        &s,
        "bob",
        &["label", "promotion", "release", "team=data"],
    ));
    ok(as_user(
        &s,
        "bob",
        &["annotate", "promotion", "release", "note=reviewed in PR 12"],
    ));
    assert_eq!(
        annotation(&s, "release", "approve.sluice.dev/alice"),
        format!("alice@{DIGEST}; checked the backfill; ship it")
    );
}

#[test]
fn an_approval_may_claim_only_groups_the_api_server_verified() {
    let s = scenario();
    ok(create_promotion(&s, "bob", "release", Some("bob")));
    // Carol is in data-owners (her token says so; here: impersonation with that group).
    ok(annotate(
        &s,
        "carol",
        "release",
        &format!("approve.sluice.dev/carol=carol@{DIGEST} groups=data-owners; for the owners"),
    ));
    ok(annotate(
        &s,
        "carol",
        "release",
        &format!("approve.sluice.dev/carol=carol@{DIGEST} groups=data-owners, devs"),
    ));
    denied(
        annotate(
            &s,
            "carol",
            "release",
            &format!("approve.sluice.dev/carol=carol@{DIGEST} groups=data-owners,admins"),
        ),
        "an approval or rejection may only name groups the API server verified for you: carol is in [data-owners, devs, system:authenticated]",
    );
    // Alice approves through her RoleBinding but is not in data-owners.
    denied(
        annotate(
            &s,
            "alice",
            "release",
            &format!("approve.sluice.dev/alice=alice@{DIGEST} groups=data-owners"),
        ),
        "alice is in [devs, system:authenticated]",
    );
    // An empty group list is not a list.
    denied(
        annotate(
            &s,
            "carol",
            "release",
            &format!("approve.sluice.dev/carol=carol@{DIGEST} groups="),
        ),
        "cannot read the approval",
    );
}

#[test]
fn rejections_carry_the_rejecters_name_and_a_reason() {
    let s = scenario();
    ok(create_promotion(&s, "bob", "release", Some("bob")));
    ok(annotate(
        &s,
        "alice",
        "release",
        "reject.sluice.dev/alice=alice: the backfill window is wrong",
    ));
    denied(
        annotate(
            &s,
            "alice",
            "release",
            "reject.sluice.dev/carol=carol: not me",
        ),
        "reject.sluice.dev/carol: an approval or rejection must carry your own user name: write \"alice@<plan digest>\" to approve, \"alice: <reason>\" to reject",
    );
    denied(
        annotate(&s, "carol", "release", "reject.sluice.dev/carol=carol:  "),
        "a rejection must give a reason",
    );
    denied(
        annotate(
            &s,
            "bob",
            "release",
            "reject.sluice.dev/bob=bob: I changed my mind",
        ),
        "bob may not approve or reject promotion",
    );
}

#[test]
fn only_the_author_or_a_cluster_admin_removes_an_approval() {
    let s = scenario();
    ok(create_promotion(&s, "bob", "release", Some("bob")));
    ok(annotate(
        &s,
        "alice",
        "release",
        &format!("approve.sluice.dev/alice=alice@{DIGEST}"),
    ));
    ok(annotate(
        &s,
        "carol",
        "release",
        &format!("approve.sluice.dev/carol=carol@{DIGEST}"),
    ));
    ok(annotate(
        &s,
        "carol",
        "release",
        "reject.sluice.dev/carol=carol: wait for the audit",
    ));

    // Another approver can neither remove nor overwrite alice's approval.
    denied(
        annotate(&s, "carol", "release", "approve.sluice.dev/alice-"),
        &format!(
            "approve.sluice.dev/alice (\"alice@{DIGEST}\") is not yours: only its author or a cluster admin may remove or replace it"
        ),
    );
    denied(
        annotate(
            &s,
            "carol",
            "release",
            &format!("approve.sluice.dev/alice=carol@{DIGEST}"),
        ),
        "approve.sluice.dev/alice (\"alice@",
    );
    // Nor can an editor remove a rejection to unblock the release.
    denied(
        annotate(&s, "bob", "release", "reject.sluice.dev/carol-"),
        "reject.sluice.dev/carol (\"carol: wait for the audit\") is not yours",
    );
    // Authors withdraw their own; a cluster admin may remove anyone's.
    ok(annotate(&s, "carol", "release", "reject.sluice.dev/carol-"));
    ok(annotate(
        &s,
        "alice",
        "release",
        "approve.sluice.dev/alice-",
    ));
    ok(annotate(
        &s,
        "admin",
        "release",
        "approve.sluice.dev/carol-",
    ));
    let left = s
        .kubectl_ok(&[
            "get",
            "promotion",
            "release",
            "-o",
            "jsonpath={.metadata.annotations}",
        ])
        .unwrap();
    assert!(
        !left.contains("approve.sluice.dev") && !left.contains("reject.sluice.dev"),
        "{left}"
    );
}

/// One row of `config/policy/testdata/annotation-values.yaml`.
#[derive(serde::Deserialize)]
struct Row {
    user: String,
    groups: Vec<String>,
    key: String,
    value: String,
    admitted: bool,
}

#[test]
fn every_value_of_the_shared_table_is_admitted_or_denied_as_it_says() {
    let s = scenario();
    ok(create_promotion(&s, "admin", "table", Some("admin")));
    let rows: Vec<Row> =
        serde_saphyr::from_str(&read("config/policy/testdata/annotation-values.yaml")).unwrap();
    assert!(rows.len() >= 20);
    for row in rows {
        let value = row.value.replace("<D>", DIGEST);
        let groups: Vec<&str> = row.groups.iter().map(String::as_str).collect();
        // A server-side dry run goes through admission and changes nothing, so every row meets
        // the same Promotion.
        let out = s
            .kubectl_as(
                &row.user,
                &groups,
                &[
                    "annotate",
                    "promotion",
                    "table",
                    "--dry-run=server",
                    &format!("{}={value}", row.key),
                ],
            )
            .unwrap();
        assert_eq!(
            out.status.success(),
            row.admitted,
            "{} writing {}={value:?}: {}",
            row.user,
            row.key,
            stderr(&out)
        );
    }
}

#[test]
fn only_releasers_and_approvers_create_a_rollback() {
    let s = scenario();
    let rollback = "  rollback: {environment: prod}\n";
    denied(
        create(&s, "bob", "Promotion", "undo", Some("bob"), rollback),
        &format!(
            "bob may not roll back environment {}/prod: that needs the RBAC verb rollback on \
             promotions.sluice.dev (ClusterRole sluice-releaser or sluice-approver)",
            s.namespace
        ),
    );
    ok(create(
        &s,
        "oscar",
        "Promotion",
        "undo",
        Some("oscar"),
        rollback,
    ));
    ok(create(
        &s,
        "alice",
        "Promotion",
        "undo-2",
        Some("alice"),
        rollback,
    ));
    // Promoting a plan stays an editor's.
    ok(create_promotion(&s, "bob", "forward", Some("bob")));
}

#[test]
fn only_the_operator_writes_the_configmaps_it_manages() {
    let s = scenario();
    // The operator is whoever may write Promotion status; no role for people grants it.
    s.apply(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: operator}\n\
         rules:\n- {apiGroups: [sluice.dev], resources: [promotions/status], verbs: [patch]}\n\
         - {apiGroups: [\"\"], resources: [configmaps], verbs: [get, create, patch, update, delete]}\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: operator}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: operator}\n\
         subjects: [{kind: ServiceAccount, name: sluice, namespace: sluice-system}]\n",
    )
    .unwrap();
    let operator = "system:serviceaccount:sluice-system:sluice";
    let manifest = |data: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop-v1-prod-evidence\n  labels:\n    \
             app.kubernetes.io/managed-by: sluice\ndata:\n  evidence.json: '{data}'\n"
        )
    };
    let apply = |user: &str, groups: &[&str], data: &str| {
        let mut args = vec![format!("--as={user}")];
        args.extend(groups.iter().map(|g| format!("--as-group={g}")));
        args.extend(["apply", "-f", "-"].map(String::from));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        s.kubectl_stdin(&args, Some(&manifest(data))).unwrap()
    };
    let refused = |out: Output| {
        assert!(!out.status.success(), "expected a denial");
        assert!(
            stderr(&out).contains(
                "ValidatingAdmissionPolicy 'sluice-managed-objects' with binding \
                 'sluice-managed-objects' denied request: ConfigMap"
            ) && stderr(&out).contains("is managed by the Sluice operator"),
            "{}",
            stderr(&out)
        );
    };
    refused(apply("bob", &[], "{\"forged\": true}"));
    ok(apply(
        operator,
        &["system:serviceaccounts"],
        "{\"release\": \"prod-r1\"}",
    ));
    refused(apply(
        "bob",
        &[],
        "{\"release\": \"prod-r1\", \"approvals\": []}",
    ));
    refused(as_user(
        &s,
        "bob",
        &[
            "label",
            "configmap",
            "shop-v1-prod-evidence",
            "app.kubernetes.io/managed-by-",
        ],
    ));
    // Unrelated ConfigMaps are the editors' as ever, and deleting a managed one is not refused
    // (nothing is forged by it; the operator writes it again).
    ok(as_user(
        &s,
        "bob",
        &["create", "configmap", "notes", "--from-literal=a=b"],
    ));
    ok(as_user(
        &s,
        "bob",
        &["delete", "configmap", "shop-v1-prod-evidence"],
    ));
}
