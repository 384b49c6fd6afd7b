//! Admission: ValidatingAdmissionPolicies in CEL (the approval rule Sluice's chart ships, the
//! `authorizer` library, Warn and Audit actions) and CRD validation (CEL transition rules,
//! defaults, patterns, formats, list sizes).

mod common;

use sluice_e2e::{Scenario, TestCluster};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The approval rule: an `approve.sluice.dev/*` annotation someone adds or changes must carry
/// the requester's own name, and the requester must hold the `approve` verb.
const APPROVAL_POLICY: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: sluice-approvals}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [sluice.dev]
      apiVersions: ["*"]
      operations: [CREATE, UPDATE]
      resources: [promotions]
  variables:
  - name: old
    expression: "oldObject != null && has(oldObject.metadata.annotations) ? oldObject.metadata.annotations : {}"
  - name: added
    expression: >-
      has(object.metadata.annotations) ?
      object.metadata.annotations.filter(k, k.startsWith('approve.sluice.dev/') &&
        (!(k in variables.old) || variables.old[k] != object.metadata.annotations[k])) : []
  validations:
  - expression: "variables.added.all(k, object.metadata.annotations[k].split('@')[0] == request.userInfo.username)"
    messageExpression: "'an approval must name its approver: ' + request.userInfo.username + ' may only approve as ' + request.userInfo.username"
    reason: Forbidden
  - expression: >-
      size(variables.added) == 0 ||
      authorizer.group('sluice.dev').resource('promotions').namespace(object.metadata.namespace).name(object.metadata.name).check('approve').allowed()
    message: "approving needs the approve verb on promotions.sluice.dev"
    reason: Forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: sluice-approvals}
spec:
  policyName: sluice-approvals
  validationActions: [Deny]
"#;

const PROMOTION_RBAC: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: promotion-approver}
rules:
- apiGroups: [sluice.dev]
  resources: [promotions]
  verbs: [get, list, patch, update, approve]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: promotion-editor}
rules:
- apiGroups: [sluice.dev]
  resources: [promotions]
  verbs: [get, list, patch, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-approves}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: promotion-approver}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: alice}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-edits}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: promotion-editor}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: bob}]
"#;

#[test]
fn approval_annotations_must_name_the_requester_who_holds_the_approve_verb() {
    let s = Scenario::start_with(TestCluster::builder().rbac(true)).unwrap();
    s.apply(common::PROMOTION_CRD).unwrap();
    s.apply(APPROVAL_POLICY).unwrap();
    s.apply(PROMOTION_RBAC).unwrap();
    s.apply("apiVersion: sluice.dev/v1alpha1\nkind: Promotion\nmetadata: {name: release}\nspec: {plan: orders-v2}\n")
        .unwrap();
    let annotate = |user: &str, value: &str| {
        s.kubectl_as(
            user,
            &[],
            &[
                "annotate",
                "promotion",
                "release",
                "--overwrite",
                &format!("approve.sluice.dev/{user}={value}"),
            ],
        )
        .unwrap()
    };

    // Alice writing bob's name: denied, worded as upstream words it.
    let forged = annotate("alice", "bob@sha256:abc");
    assert!(!forged.status.success());
    assert!(
        stderr(&forged).contains("promotions.sluice.dev \"release\" is forbidden: ValidatingAdmissionPolicy 'sluice-approvals' with binding 'sluice-approvals' denied request: an approval must name its approver: alice may only approve as alice"),
        "{}",
        stderr(&forged)
    );
    // Alice writing her own name: admitted.
    let own = annotate("alice", "alice@sha256:abc");
    assert!(own.status.success(), "{}", stderr(&own));
    // Bob may edit promotions but not approve: the authorizer check in the policy says no.
    let bob = annotate("bob", "bob@sha256:abc");
    assert!(
        stderr(&bob).contains("approving needs the approve verb on promotions.sluice.dev"),
        "{}",
        stderr(&bob)
    );
    // Unrelated edits by bob, and alice's approval left as it was, pass.
    let label = s
        .kubectl_as("bob", &[], &["label", "promotion", "release", "team=data"])
        .unwrap();
    assert!(label.status.success(), "{}", stderr(&label));
    let value = s
        .kubectl_ok(&[
            "get",
            "promotion",
            "release",
            "-o",
            "jsonpath={.metadata.annotations.approve\\.sluice\\.dev/alice}",
        ])
        .unwrap();
    assert_eq!(value, "alice@sha256:abc");
}

#[test]
fn warn_and_audit_actions_admit_with_a_warning() {
    let s = Scenario::start().unwrap();
    s.apply(
        r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: labelled-configmaps}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [configmaps]}
  matchConditions:
  - {name: not-system, expression: "!object.metadata.name.startsWith('kube-')"}
  validations:
  - expression: "has(object.metadata.labels) && 'team' in object.metadata.labels"
    messageExpression: "'configmap ' + object.metadata.name + ' has no team label'"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: labelled-configmaps}
spec:
  policyName: labelled-configmaps
  validationActions: [Warn, Audit]
"#,
    )
    .unwrap();
    let out = s
        .kubectl_stdin(
            &["apply", "-f", "-"],
            Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: loose}\n"),
        )
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Warning: Validation failed for ValidatingAdmissionPolicy 'labelled-configmaps' with binding 'labelled-configmaps': configmap loose has no team label"),
        "{}",
        stderr(&out)
    );
    if let Some(cluster) = s.local() {
        assert!(
            cluster
                .requests()
                .iter()
                .any(|r| r.annotations.iter().any(|(k, v)| k
                    == "validation.policy.admission.k8s.io/validation_failure"
                    && v.contains("loose")))
        );
    }
}

#[test]
fn crd_transition_rules_defaults_and_value_validations() {
    let s = Scenario::start().unwrap();
    s.apply(common::PLAN_CRD).unwrap();
    s.apply(&common::plan("orders-v2", "dev")).unwrap();
    // Defaults are applied on create (and are there when read).
    let options = s
        .kubectl_ok(&["get", "plan", "orders-v2", "-o", "jsonpath={.spec.options}"])
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&options).unwrap(),
        serde_json::json!({"forwardOnly": false, "batchSize": 10})
    );
    // The spec is immutable: a transition rule with oldSelf.
    let changed = s
        .kubectl_stdin(
            &["apply", "-f", "-"],
            Some(&common::plan("orders-v2", "prod")),
        )
        .unwrap();
    assert!(
        stderr(&changed).contains(
            "The Plan \"orders-v2\" is invalid: spec: Invalid value: \"object\": spec is immutable"
        ),
        "{}",
        stderr(&changed)
    );
    // Rules without oldSelf run on create.
    let both = "apiVersion: sluice.dev/v1alpha1\nkind: Plan\nmetadata: {name: two-sources}\nspec:\n  environment: dev\n  source: {configMap: {name: p}, git: {url: x}}\n";
    let out = s.kubectl_stdin(&["apply", "-f", "-"], Some(both)).unwrap();
    assert!(
        stderr(&out).contains("exactly one source"),
        "{}",
        stderr(&out)
    );
    // pattern, format and maxItems.
    let bad = "apiVersion: sluice.dev/v1alpha1\nkind: Plan\nmetadata: {name: bad}\nspec:\n  environment: Dev_1\n  author: not-an-email\n  executionTime: yesterday\n  restate: [a, b, c, d]\n  source: {configMap: {name: p}}\n";
    let err = stderr(&s.kubectl_stdin(&["apply", "-f", "-"], Some(bad)).unwrap());
    for expected in [
        "spec.environment: Invalid value: \"Dev_1\": spec.environment in body should match '^[a-z][a-z0-9-]*$'",
        "spec.author: Invalid value: \"not-an-email\": spec.author in body must be of type email",
        "spec.executionTime: Invalid value: \"yesterday\": spec.executionTime in body must be of type date-time",
        "spec.restate: Too many: 4: must have at most 3 items",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in {err}");
    }
}
