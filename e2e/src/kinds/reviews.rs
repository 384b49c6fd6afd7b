//! The create-only review kinds: `authorization.k8s.io/v1` SelfSubjectAccessReview,
//! SubjectAccessReview, LocalSubjectAccessReview and SelfSubjectRulesReview, and
//! `authentication.k8s.io/v1` TokenReview and SelfSubjectReview. Each answers about the
//! cluster as it is, and nothing is stored.

use k8s_pb::api::{authentication as authn, authorization as authz};
use serde_json::{Value, json};

use super::{BuiltinKind, Facts, Protobuf, ReviewContext};
use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::protobuf::{Decoder, decode_as};
use crate::rbac::Attributes;

const AUTHZ: &str = "authorization.k8s.io";
const AUTHN: &str = "authentication.k8s.io";
const AUTHZ_V1: &str = "authorization.k8s.io/v1";
const AUTHN_V1: &str = "authentication.k8s.io/v1";

/// A review's status, from its spec, the namespace it was created in and who asked.
type Answer = fn(&dyn ReviewContext, &Facts, &str, &User, &Value) -> ApiResult<Value>;

pub struct Review {
    facts: Facts,
    protobuf: &'static [Protobuf],
    answer: Answer,
}

impl BuiltinKind for Review {
    fn facts(&self) -> Facts {
        self.facts
    }

    fn protobuf(&self) -> &'static [Protobuf] {
        self.protobuf
    }

    fn review(
        &self,
        cluster: &dyn ReviewContext,
        namespace: &str,
        user: &User,
        body: Value,
    ) -> ApiResult<Value> {
        if !body.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request must be an object",
            ));
        }
        let status = (self.answer)(cluster, &self.facts, namespace, user, &body["spec"])?;
        let mut metadata = json!({"creationTimestamp": null});
        if self.facts.namespaced {
            metadata["namespace"] = json!(namespace);
        }
        Ok(json!({
            "kind": self.facts.kind,
            "apiVersion": self.facts.api_version(),
            "metadata": metadata,
            "spec": body.get("spec").cloned().unwrap_or_else(|| json!({})),
            "status": status,
        }))
    }
}

const fn review(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    protobuf: &'static [Protobuf],
    answer: Answer,
) -> Review {
    Review {
        facts: Facts::new(group, "v1", kind, plural).cluster().review(),
        protobuf,
        answer,
    }
}

const fn body(api_version: &'static str, kind: &'static str, decode: Decoder) -> Protobuf {
    Protobuf {
        api_version,
        kind,
        decode,
    }
}

pub static SELF_SUBJECT_ACCESS_REVIEW: Review = review(
    AUTHZ,
    "SelfSubjectAccessReview",
    "selfsubjectaccessreviews",
    &[body(
        AUTHZ_V1,
        "SelfSubjectAccessReview",
        decode_as::<authz::v1::SelfSubjectAccessReview>,
    )],
    |cluster, _, _, user, spec| Ok(access_status(cluster, &attributes(user, spec))),
);

pub static SELF_SUBJECT_RULES_REVIEW: Review = review(
    AUTHZ,
    "SelfSubjectRulesReview",
    "selfsubjectrulesreviews",
    &[body(
        AUTHZ_V1,
        "SelfSubjectRulesReview",
        decode_as::<authz::v1::SelfSubjectRulesReview>,
    )],
    |cluster, _, _, user, spec| {
        Ok(rules_status(
            cluster,
            user,
            spec["namespace"].as_str().unwrap_or_default(),
        ))
    },
);

pub static SUBJECT_ACCESS_REVIEW: Review = review(
    AUTHZ,
    "SubjectAccessReview",
    "subjectaccessreviews",
    &[body(
        AUTHZ_V1,
        "SubjectAccessReview",
        decode_as::<authz::v1::SubjectAccessReview>,
    )],
    |cluster, facts, _, _, spec| Ok(access_status(cluster, &subject_attributes(facts, spec)?)),
);

/// A SubjectAccessReview confined to the namespace it is created in.
pub static LOCAL_SUBJECT_ACCESS_REVIEW: Review = Review {
    facts: Facts::new(
        AUTHZ,
        "v1",
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
    )
    .review(),
    protobuf: &[body(
        AUTHZ_V1,
        "LocalSubjectAccessReview",
        decode_as::<authz::v1::LocalSubjectAccessReview>,
    )],
    answer: |cluster, facts, ns, _, spec| {
        let mut attrs = subject_attributes(facts, spec)?;
        if !attrs.namespace.is_empty() && attrs.namespace != ns {
            return Err(invalid(
                facts,
                "spec.resourceAttributes.namespace",
                "Invalid value: must match metadata.namespace",
            ));
        }
        attrs.namespace = ns.to_string();
        Ok(access_status(cluster, &attrs))
    },
};

pub static TOKEN_REVIEW: Review = review(
    AUTHN,
    "TokenReview",
    "tokenreviews",
    &[body(
        AUTHN_V1,
        "TokenReview",
        decode_as::<authn::v1::TokenReview>,
    )],
    |cluster, _, _, _, spec| {
        let token = spec["token"].as_str().unwrap_or_default();
        Ok(match cluster.authenticate_token(token) {
            Some(u) => {
                let audiences = spec["audiences"]
                    .as_array()
                    .cloned()
                    .unwrap_or_else(|| vec![json!(crate::serviceaccounts::AUDIENCE)]);
                json!({"authenticated": true, "user": u.to_json(), "audiences": audiences})
            }
            None => json!({"authenticated": false, "user": {}, "error": "invalid bearer token"}),
        })
    },
);

pub static SELF_SUBJECT_REVIEW: Review = review(
    AUTHN,
    "SelfSubjectReview",
    "selfsubjectreviews",
    &[body(
        AUTHN_V1,
        "SelfSubjectReview",
        decode_as::<authn::v1::SelfSubjectReview>,
    )],
    |_, _, _, user, _| Ok(json!({"userInfo": user.to_json()})),
);

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

/// The attributes a (Local)SubjectAccessReview asks about, for the user or groups it names.
fn subject_attributes(facts: &Facts, spec: &Value) -> ApiResult<Attributes> {
    let subject = User::from_json(spec);
    if subject.name.is_empty() && subject.groups.is_empty() {
        return Err(invalid(
            facts,
            "spec.user",
            "Invalid value: \"\": at least one of user or group must be specified",
        ));
    }
    Ok(attributes(&subject, spec))
}

fn access_status(cluster: &dyn ReviewContext, attrs: &Attributes) -> Value {
    let rbac = cluster.authorizer();
    let decision = rbac.authorize(attrs);
    let mut status = json!({"allowed": decision.allowed});
    if decision.allowed && rbac.enabled {
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
fn rules_status(cluster: &dyn ReviewContext, user: &User, namespace: &str) -> Value {
    let rbac = cluster.authorizer();
    if !rbac.enabled || user.is_master() {
        return json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        });
    }
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

fn invalid(facts: &Facts, field: &str, message: &str) -> ApiError {
    ApiError::invalid(
        facts.group,
        facts.kind,
        "",
        vec![(field.into(), message.into())],
    )
}
