//! The create-only review kinds: `authorization.k8s.io/v1` SelfSubjectAccessReview,
//! SubjectAccessReview, LocalSubjectAccessReview and SelfSubjectRulesReview, and
//! `authentication.k8s.io/v1` TokenReview and SelfSubjectReview. Each answers about the
//! cluster as it is, and nothing is stored.

use serde_json::{Value, json};

use crate::api::Cluster;
use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::rbac::{Attributes, Rbac};
use crate::resources::ResourceInfo;

fn attributes(user: &User, spec: &Value) -> Attributes {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let ra = &spec["resourceAttributes"];
    let nra = &spec["nonResourceAttributes"];
    if nra.is_object() {
        return Attributes {
            user: user.clone(),
            verb: s(&nra["verb"]),
            path: Some(s(&nra["path"])),
            ..Default::default()
        };
    }
    Attributes {
        user: user.clone(),
        verb: s(&ra["verb"]),
        namespace: s(&ra["namespace"]),
        group: s(&ra["group"]),
        version: s(&ra["version"]),
        resource: s(&ra["resource"]),
        subresource: s(&ra["subresource"]),
        name: s(&ra["name"]),
        path: None,
    }
}

fn access_status(cluster: &Cluster, attrs: &Attributes) -> Value {
    let decision = Rbac::snapshot(&cluster.store.lock(), cluster.rbac).authorize(attrs);
    let mut status = json!({"allowed": decision.allowed});
    if decision.allowed && cluster.rbac {
        let why = if attrs.user.is_master() {
            "system:masters"
        } else {
            "RBAC"
        };
        status["reason"] = json!(format!("allowed by {why}"));
    } else if !decision.reason.is_empty() {
        status["reason"] = json!(decision.reason);
    }
    status
}

/// SelfSubjectRulesReview: what the requester may do in a namespace.
fn rules_status(cluster: &Cluster, user: &User, namespace: &str) -> Value {
    if !cluster.rbac || user.is_master() {
        return json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        });
    }
    let rbac = Rbac::snapshot(&cluster.store.lock(), true);
    let (rules, errors) = rbac.rules_for(user, namespace);
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for r in rules {
        if r["nonResourceURLs"].is_array() {
            non_resource_rules
                .push(json!({"verbs": r["verbs"], "nonResourceURLs": r["nonResourceURLs"]}));
        } else {
            let mut rule = json!({"verbs": r["verbs"], "apiGroups": r["apiGroups"], "resources": r["resources"]});
            if r["resourceNames"].is_array() {
                rule["resourceNames"] = r["resourceNames"].clone();
            }
            resource_rules.push(rule);
        }
    }
    let mut status = json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": !errors.is_empty()});
    if !errors.is_empty() {
        status["evaluationError"] = json!(errors.join(", "));
    }
    status
}

/// Answers a review created by `user`.
pub fn create(
    cluster: &Cluster,
    res: &ResourceInfo,
    ns: &str,
    user: &User,
    body: Value,
) -> ApiResult<Value> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be an object",
        ));
    }
    let spec = &body["spec"];
    let status = match res.plural.as_str() {
        "selfsubjectaccessreviews" => access_status(cluster, &attributes(user, spec)),
        "subjectaccessreviews" | "localsubjectaccessreviews" => {
            let subject = User::from_json(spec);
            if subject.name.is_empty() && subject.groups.is_empty() {
                return Err(invalid(
                    res,
                    "spec.user",
                    "Invalid value: \"\": at least one of user or group must be specified",
                ));
            }
            let mut attrs = attributes(&subject, spec);
            if res.plural == "localsubjectaccessreviews" {
                if !attrs.namespace.is_empty() && attrs.namespace != ns {
                    return Err(invalid(
                        res,
                        "spec.resourceAttributes.namespace",
                        "Invalid value: must match metadata.namespace",
                    ));
                }
                attrs.namespace = ns.to_string();
            }
            access_status(cluster, &attrs)
        }
        "selfsubjectrulesreviews" => rules_status(
            cluster,
            user,
            spec["namespace"].as_str().unwrap_or_default(),
        ),
        "tokenreviews" => {
            let token = spec["token"].as_str().unwrap_or_default();
            match cluster.authenticate_token(token) {
                Some(u) => {
                    let audiences = spec["audiences"]
                        .as_array()
                        .cloned()
                        .unwrap_or_else(|| vec![json!(crate::serviceaccounts::AUDIENCE)]);
                    json!({"authenticated": true, "user": u.to_json(), "audiences": audiences})
                }
                None => {
                    json!({"authenticated": false, "user": {}, "error": "invalid bearer token"})
                }
            }
        }
        "selfsubjectreviews" => json!({"userInfo": user.to_json()}),
        _ => return Err(ApiError::method_not_allowed()),
    };
    let mut metadata = json!({"creationTimestamp": null});
    if res.namespaced {
        metadata["namespace"] = json!(ns);
    }
    Ok(json!({
        "kind": res.kind,
        "apiVersion": res.api_version(res.preferred_version()),
        "metadata": metadata,
        "spec": body.get("spec").cloned().unwrap_or_else(|| json!({})),
        "status": status,
    }))
}

fn invalid(res: &ResourceInfo, field: &str, message: &str) -> ApiError {
    ApiError::invalid(
        &res.group,
        &res.kind,
        "",
        vec![(field.into(), message.into())],
    )
}
