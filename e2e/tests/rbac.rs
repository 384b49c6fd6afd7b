//! Who may do what: RBAC roles and bindings, `kubectl auth can-i`, impersonation, access
//! reviews and service-account tokens, through kubectl and kube-rs.

mod common;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::api::{Api, PostParams};
use serde_json::json;
use sluice_e2e::{Scenario, TestCluster};

fn rbac_scenario() -> Scenario {
    Scenario::start_with(TestCluster::builder().rbac(true)).unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A Role letting `verbs` on configmaps, bound to alice by name.
fn configmap_reader(s: &Scenario) {
    s.apply(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: cm-reader}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-reads}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm-reader}
subjects:
- {kind: User, apiGroup: rbac.authorization.k8s.io, name: alice}
"#,
    )
    .unwrap();
}

#[test]
fn rolebinding_allows_alice_and_forbids_bob() {
    let s = rbac_scenario();
    configmap_reader(&s);
    s.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared}\ndata: {k: v}\n")
        .unwrap();

    let alice = s
        .kubectl_as(
            "alice",
            &[],
            &["get", "configmap", "shared", "-o", "jsonpath={.data.k}"],
        )
        .unwrap();
    assert!(alice.status.success(), "{}", stderr(&alice));
    assert_eq!(stdout(&alice), "v");

    let bob = s.kubectl_as("bob", &[], &["get", "configmaps"]).unwrap();
    assert!(!bob.status.success());
    assert!(
        stderr(&bob).contains(&format!(
            "configmaps is forbidden: User \"bob\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"{}\"",
            s.namespace
        )),
        "{}",
        stderr(&bob)
    );
    // Reading is not writing.
    let write = s
        .kubectl_as("alice", &[], &["delete", "configmap", "shared"])
        .unwrap();
    assert!(
        stderr(&write).contains("cannot delete resource \"configmaps\""),
        "{}",
        stderr(&write)
    );
}

#[test]
fn auth_can_i_answers_for_custom_verbs_and_other_users() {
    let s = rbac_scenario();
    s.apply(common::PROMOTION_CRD).unwrap();
    s.apply(
        r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: approver}
rules:
- apiGroups: [sluice.dev]
  resources: [promotions]
  verbs: [get, list, patch, approve]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: approvers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: approver}
subjects:
- {kind: Group, apiGroup: rbac.authorization.k8s.io, name: release-managers}
"#,
    )
    .unwrap();
    let can_i = |user: &str, groups: &[&str], what: &[&str]| {
        let mut args = vec!["auth", "can-i"];
        args.extend(what);
        let out = s.kubectl_as(user, groups, &args).unwrap();
        (stdout(&out), out.status.code())
    };
    assert_eq!(
        can_i(
            "alice",
            &["release-managers"],
            &["approve", "promotions.sluice.dev"]
        ),
        ("yes".into(), Some(0))
    );
    assert_eq!(
        can_i("bob", &[], &["approve", "promotions.sluice.dev"]),
        ("no".into(), Some(1))
    );
    assert_eq!(
        can_i(
            "alice",
            &["release-managers"],
            &["delete", "promotions.sluice.dev"]
        ),
        ("no".into(), Some(1))
    );
    let list = s
        .kubectl_as("alice", &["release-managers"], &["auth", "can-i", "--list"])
        .unwrap();
    let row = stdout(&list)
        .lines()
        .find(|l| l.starts_with("promotions.sluice.dev"))
        .map(String::from)
        .unwrap_or_default();
    assert!(row.contains("approve"), "{}", stdout(&list));
    // Everyone may ask about themselves, and discovery is open to every authenticated user.
    let me = s
        .kubectl_as(
            "bob",
            &[],
            &[
                "auth",
                "can-i",
                "create",
                "selfsubjectaccessreviews.authorization.k8s.io",
            ],
        )
        .unwrap();
    assert_eq!(stdout(&me), "yes");
    let whoami = s
        .kubectl_as(
            "alice",
            &["release-managers"],
            &[
                "auth",
                "whoami",
                "-o",
                "jsonpath={.status.userInfo.username}",
            ],
        )
        .unwrap();
    assert_eq!(stdout(&whoami), "alice", "{}", stderr(&whoami));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_sees_403_and_reviews_its_own_access() {
    let s = rbac_scenario();
    configmap_reader(&s);
    let alice = s.client_as("alice", &[]).await.unwrap();
    let bob = s.client_as("bob", &[]).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(alice.clone(), &s.namespace);
    cms.list(&Default::default()).await.unwrap();
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    match cms.create(&PostParams::default(), &cm).await {
        Err(kube::Error::Api(e)) => {
            assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
        }
        other => panic!("expected 403, got {other:?}"),
    }
    let secrets: Api<Secret> = Api::namespaced(bob, &s.namespace);
    assert!(secrets.list(&Default::default()).await.is_err());

    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(s.namespace.clone()),
                verb: Some("watch".into()),
                resource: Some("configmaps".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let reviews: Api<SelfSubjectAccessReview> = Api::all(alice);
    let answer = reviews
        .create(&PostParams::default(), &review)
        .await
        .unwrap();
    assert!(answer.status.unwrap().allowed);
}

#[test]
fn impersonation_needs_the_impersonate_verb() {
    let s = rbac_scenario();
    let Some(cluster) = s.local() else { return };
    let path = format!("/api/v1/namespaces/{}/configmaps", s.namespace);
    let out = cluster
        .kubectl("bob")
        .args(["get", "--raw", &path, "--as=alice"])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("users \"alice\" is forbidden: User \"bob\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"),
        "{}",
        stderr(&out)
    );
    // The request log keeps who acted for whom.
    s.kubectl_as("alice", &[], &["get", "configmaps"]).unwrap();
    let records = cluster.requests();
    assert!(
        records
            .iter()
            .any(|r| r.user == "alice" && r.impersonator.as_deref() == Some("admin")),
        "{records:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_tokens_authenticate_as_the_account() {
    let s = rbac_scenario();
    let Some(cluster) = s.local() else { return };
    s.apply("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: robot}\n")
        .unwrap();
    configmap_reader(&s);
    s.apply(&format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: robot-reads}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: cm-reader}}\nsubjects:\n- {{kind: ServiceAccount, name: robot, namespace: {}}}\n",
        s.namespace
    ))
    .unwrap();
    // `kubectl create token` sends a protobuf TokenRequest.
    let token = s.kubectl_ok(&["create", "token", "robot"]).unwrap();
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "JWT-shaped: {token}");
    let robot = cluster.client_with_token(token).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(robot.clone(), &s.namespace);
    cms.list(&Default::default()).await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(robot, &s.namespace);
    match secrets.list(&Default::default()).await {
        Err(kube::Error::Api(e)) => assert!(
            e.message.contains(&format!(
                "User \"system:serviceaccount:{}:robot\" cannot list resource \"secrets\"",
                s.namespace
            )),
            "{}",
            e.message
        ),
        other => panic!("expected 403, got {other:?}"),
    }
    // TokenReview says who the token is; deleting the account revokes it.
    let review = s
        .kubectl_stdin(
            &["create", "-o", "jsonpath={.status.user.username}", "-f", "-"],
            Some(&format!("apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec: {{token: {token}}}\n")),
        )
        .unwrap();
    assert_eq!(
        stdout(&review),
        format!("system:serviceaccount:{}:robot", s.namespace),
        "{}",
        stderr(&review)
    );
    let sas: Api<ServiceAccount> = Api::namespaced(s.client().await.unwrap(), &s.namespace);
    sas.delete("robot", &Default::default()).await.unwrap();
    let revoked = cluster.client_with_token(token).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(revoked, &s.namespace);
    match cms.list(&Default::default()).await {
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 401),
        other => panic!("expected 401, got {other:?}"),
    }
}
