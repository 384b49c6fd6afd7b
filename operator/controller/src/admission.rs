//! Whether approvals can be trusted: an annotation proves nothing unless the approval policy
//! (`config/policy/approval-policy.yaml`, a ValidatingAdmissionPolicy) checked who wrote it.
//! Before counting any approval the operator checks that the policy is installed exactly as
//! shipped and that its binding denies (not only warns) in the Promotion's namespace; otherwise
//! no approval counts and the gate says why (`ApprovalPolicyMissing`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use kube::Api;
use serde_json::{Value, json};

/// The policy this build ships (and the chart installs as it is, under the release's name).
const SHIPPED_POLICY: &str = include_str!("../../../config/policy/approval-policy.yaml");

/// How long a check is reused before the API server is asked again (a flip always asks).
const CACHE_FOR: Duration = Duration::from_secs(10);

/// What the operator knows about the approval policy in one namespace.
#[derive(Debug, Clone, PartialEq)]
pub enum Trust {
    /// Installed as shipped, denying in this namespace: approvals are what they claim.
    Verified,
    /// Not installed, changed, not binding here, or unreadable: why.
    Missing(String),
    /// The operator was told to accept approvals without the policy
    /// (`--accept-unverified-approvals`).
    Unverified,
}

impl Trust {
    /// Why approvals cannot be trusted, if they cannot.
    pub fn distrust(&self) -> Option<&str> {
        match self {
            Trust::Missing(why) => Some(why),
            Trust::Verified | Trust::Unverified => None,
        }
    }
}

/// Checks the approval policy, caching the answer per namespace for a few seconds.
pub struct AdmissionCheck {
    /// The ValidatingAdmissionPolicy's name; its binding has the same name.
    pub policy: String,
    pub accept_unverified: bool,
    cache: Mutex<HashMap<String, (Instant, Trust)>>,
}

impl AdmissionCheck {
    pub fn new(policy: String, accept_unverified: bool) -> AdmissionCheck {
        AdmissionCheck {
            policy,
            accept_unverified,
            cache: Mutex::default(),
        }
    }

    /// The trust approvals in `namespace` deserve; `fresh` asks the API server even when a
    /// recent answer is cached.
    pub async fn check(&self, client: &kube::Client, namespace: &str, fresh: bool) -> Trust {
        if self.accept_unverified {
            return Trust::Unverified;
        }
        if !fresh
            && let Some((at, trust)) = self
                .cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(namespace)
            && at.elapsed() < CACHE_FOR
        {
            return trust.clone();
        }
        let trust = match self.read(client, namespace).await {
            Ok(()) => Trust::Verified,
            Err(why) => Trust::Missing(why),
        };
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(namespace.to_string(), (Instant::now(), trust.clone()));
        trust
    }

    async fn read(&self, client: &kube::Client, namespace: &str) -> Result<(), String> {
        let name = &self.policy;
        let unreadable = |what: &str, e: kube::Error| {
            format!(
                "the operator cannot read {what} {name} ({e}); it needs get on \
                 validatingadmissionpolicies and validatingadmissionpolicybindings"
            )
        };
        let policies: Api<ValidatingAdmissionPolicy> = Api::all(client.clone());
        let policy = policies
            .get_opt(name)
            .await
            .map_err(|e| unreadable("ValidatingAdmissionPolicy", e))?
            .ok_or_else(|| {
                format!(
                    "the approval policy (ValidatingAdmissionPolicy {name}) is not installed, so \
                     no approval can be trusted: install config/policy or the Helm chart with \
                     approvalPolicy.enabled"
                )
            })?;
        check_policy(&policy, name)?;
        let bindings: Api<ValidatingAdmissionPolicyBinding> = Api::all(client.clone());
        let binding = bindings
            .get_opt(name)
            .await
            .map_err(|e| unreadable("ValidatingAdmissionPolicyBinding", e))?
            .ok_or_else(|| {
                format!(
                    "the approval policy's binding (ValidatingAdmissionPolicyBinding {name}) is \
                     not installed, so the policy checks nothing and no approval can be trusted"
                )
            })?;
        check_binding(&binding, name, namespace)
    }
}

/// Whether an installed policy is the shipped one: the same rules, matching, validations and
/// failure policy (names, labels and API-server defaults aside).
pub fn check_policy(installed: &ValidatingAdmissionPolicy, name: &str) -> Result<(), String> {
    let shipped: ValidatingAdmissionPolicy =
        serde_saphyr::from_str(SHIPPED_POLICY).expect("the shipped approval policy parses");
    if canonical(installed) != canonical(&shipped) {
        return Err(format!(
            "ValidatingAdmissionPolicy {name} differs from the approval policy this operator \
             ships (config/policy/approval-policy.yaml), so no approval can be trusted: \
             reinstall it unchanged"
        ));
    }
    Ok(())
}

/// The parts of a policy that decide what it admits, with defaults filled in.
fn canonical(policy: &ValidatingAdmissionPolicy) -> Value {
    let spec = serde_json::to_value(&policy.spec).unwrap_or_default();
    let empty = |v: &Value| v.is_null() || v == &json!({}) || v == &json!([]);
    let constraints = &spec["matchConstraints"];
    let rules: Vec<Value> = constraints["resourceRules"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            json!({
                "apiGroups": r["apiGroups"], "apiVersions": r["apiVersions"],
                "operations": r["operations"], "resources": r["resources"],
                "resourceNames": if empty(&r["resourceNames"]) { Value::Null } else { r["resourceNames"].clone() },
                "scope": if r["scope"].is_null() { json!("*") } else { r["scope"].clone() },
            })
        })
        .collect();
    let narrowed = [
        "namespaceSelector",
        "objectSelector",
        "excludeResourceRules",
    ]
    .iter()
    .any(|k| !empty(&constraints[*k]));
    json!({
        "failurePolicy": if spec["failurePolicy"].is_null() { json!("Fail") } else { spec["failurePolicy"].clone() },
        "resourceRules": rules,
        "narrowed": narrowed,
        "matchConditions": if empty(&spec["matchConditions"]) { Value::Null } else { spec["matchConditions"].clone() },
        "paramKind": spec["paramKind"],
        "variables": spec["variables"],
        "validations": spec["validations"],
    })
}

/// Whether a binding makes the policy deny in `namespace`.
pub fn check_binding(
    binding: &ValidatingAdmissionPolicyBinding,
    policy: &str,
    namespace: &str,
) -> Result<(), String> {
    let name = binding.metadata.name.as_deref().unwrap_or_default();
    let spec = binding.spec.clone();
    if spec.policy_name != policy {
        return Err(format!(
            "ValidatingAdmissionPolicyBinding {name} binds {:?}, not the approval policy \
             {policy}, so no approval can be trusted",
            spec.policy_name
        ));
    }
    if !spec.validation_actions.iter().any(|a| a == "Deny") {
        return Err(format!(
            "ValidatingAdmissionPolicyBinding {name} does not Deny (validationActions {:?}), \
             so a forged approval would only be warned about: no approval can be trusted",
            spec.validation_actions
        ));
    }
    if spec.param_ref.is_some() {
        return Err(format!(
            "ValidatingAdmissionPolicyBinding {name} was changed (paramRef), so no approval can \
             be trusted"
        ));
    }
    let Some(resources) = spec.match_resources else {
        return Ok(());
    };
    let value = serde_json::to_value(&resources).unwrap_or_default();
    let empty = |v: &Value| v.is_null() || v == &json!({}) || v == &json!([]);
    let others_empty = ["objectSelector", "resourceRules", "excludeResourceRules"]
        .iter()
        .all(|k| empty(&value[*k]));
    let selector = &value["namespaceSelector"];
    let covers = if empty(selector) {
        true
    } else {
        // The chart's form in namespaced mode: kubernetes.io/metadata.name In [the namespaces].
        let expressions = selector["matchExpressions"].as_array();
        empty(&selector["matchLabels"])
            && expressions.is_some_and(|e| {
                e.len() == 1
                    && e[0]["key"] == "kubernetes.io/metadata.name"
                    && e[0]["operator"] == "In"
                    && e[0]["values"]
                        .as_array()
                        .is_some_and(|v| v.iter().any(|n| n == namespace))
            })
    };
    if !(others_empty && covers) {
        return Err(format!(
            "ValidatingAdmissionPolicyBinding {name} does not apply to every Promotion and Plan \
             in namespace {namespace} (its matchResources were narrowed), so no approval there \
             can be trusted"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BINDING: &str = include_str!("../../../config/policy/approval-policy-binding.yaml");

    fn shipped() -> ValidatingAdmissionPolicy {
        serde_saphyr::from_str(SHIPPED_POLICY).unwrap()
    }

    #[test]
    fn the_shipped_policy_is_accepted_renamed_and_defaulted() {
        let mut policy = shipped();
        policy.metadata.name = Some("acme-sluice-approvals".into());
        let spec = policy.spec.as_mut().unwrap();
        spec.failure_policy = Some("Fail".into());
        let constraints = spec.match_constraints.as_mut().unwrap();
        constraints.match_policy = Some("Equivalent".into());
        constraints.namespace_selector = Some(Default::default());
        assert_eq!(check_policy(&policy, "acme-sluice-approvals"), Ok(()));
    }

    #[test]
    fn a_changed_policy_is_not_trusted() {
        let mut weakened = shipped();
        let spec = weakened.spec.as_mut().unwrap();
        spec.validations.as_mut().unwrap().remove(0);
        assert!(check_policy(&weakened, "sluice-approvals").is_err());
        let mut ignoring = shipped();
        ignoring.spec.as_mut().unwrap().failure_policy = Some("Ignore".into());
        assert!(check_policy(&ignoring, "sluice-approvals").is_err());
        let mut narrowed = shipped();
        narrowed.spec.as_mut().unwrap().match_conditions = Some(vec![
            serde_json::from_value(json!({"name": "x", "expression": "false"})).unwrap(),
        ]);
        assert!(check_policy(&narrowed, "sluice-approvals").is_err());
    }

    #[test]
    fn a_binding_must_deny_in_the_namespace() {
        let binding: ValidatingAdmissionPolicyBinding = serde_saphyr::from_str(BINDING).unwrap();
        assert_eq!(check_binding(&binding, "sluice-approvals", "data"), Ok(()));
        let mut warn = binding.clone();
        warn.spec.validation_actions = vec!["Warn".into()];
        assert!(
            check_binding(&warn, "sluice-approvals", "data")
                .unwrap_err()
                .contains("does not Deny")
        );
        let mut namespaced = binding.clone();
        namespaced.spec.match_resources = Some(
            serde_json::from_value(json!({"namespaceSelector": {"matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["data"]}]}}))
            .unwrap(),
        );
        assert_eq!(
            check_binding(&namespaced, "sluice-approvals", "data"),
            Ok(())
        );
        assert!(check_binding(&namespaced, "sluice-approvals", "other").is_err());
        assert!(check_binding(&binding, "something-else", "data").is_err());
    }
}
