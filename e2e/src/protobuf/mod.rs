//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), which kubectl's
//! typed commands send (`create namespace|configmap|secret|job|deployment|role|...`,
//! `create token`, `auth can-i`): the `k8s\0` envelope holds a `runtime.Unknown` whose `raw`
//! bytes are decoded with the `k8s-pb` types and turned into the same JSON a client would send.
//! Only the kinds listed in `decode` are understood; others are 415.

mod json;

use json::ToJson;
use k8s_pb::api::core::v1 as core;
use k8s_pb::api::{apps, authentication as authn, authorization as authz, batch, rbac};
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};

fn decode_as<T: Message + Default + ToJson>(raw: &[u8]) -> ApiResult<Value> {
    T::decode(raw)
        .map(|m| m.to_json())
        .map_err(|e| ApiError::bad_request(format!("error decoding protobuf body: {e}")))
}

/// The JSON form of a protobuf request body.
pub fn decode(body: &[u8]) -> ApiResult<Value> {
    let unsupported = |what: &str| {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (protobuf is understood for the common built-in kinds only; got {what})"
            ),
        )
    };
    let rest = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| ApiError::bad_request("protobuf body without the k8s envelope"))?;
    let unknown = Unknown::decode(rest)
        .map_err(|e| ApiError::bad_request(format!("error decoding protobuf envelope: {e}")))?;
    let tm = unknown.type_meta.unwrap_or_default();
    let (api_version, kind) = (
        tm.api_version.unwrap_or_default(),
        tm.kind.unwrap_or_default(),
    );
    let raw = unknown.raw.unwrap_or_default();
    let mut v = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => decode_as::<core::Namespace>(&raw)?,
        ("v1", "ConfigMap") => decode_as::<core::ConfigMap>(&raw)?,
        ("v1", "Secret") => decode_as::<core::Secret>(&raw)?,
        ("v1", "ServiceAccount") => decode_as::<core::ServiceAccount>(&raw)?,
        ("v1", "Service") => decode_as::<core::Service>(&raw)?,
        ("batch/v1", "Job") => decode_as::<batch::v1::Job>(&raw)?,
        ("apps/v1", "Deployment") => decode_as::<apps::v1::Deployment>(&raw)?,
        ("rbac.authorization.k8s.io/v1", "Role") => decode_as::<rbac::v1::Role>(&raw)?,
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
            decode_as::<rbac::v1::ClusterRole>(&raw)?
        }
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
            decode_as::<rbac::v1::RoleBinding>(&raw)?
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            decode_as::<rbac::v1::ClusterRoleBinding>(&raw)?
        }
        ("authentication.k8s.io/v1", "TokenRequest") => decode_as::<authn::v1::TokenRequest>(&raw)?,
        ("authentication.k8s.io/v1", "TokenReview") => decode_as::<authn::v1::TokenReview>(&raw)?,
        ("authentication.k8s.io/v1", "SelfSubjectReview") => {
            decode_as::<authn::v1::SelfSubjectReview>(&raw)?
        }
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => {
            decode_as::<authz::v1::SelfSubjectAccessReview>(&raw)?
        }
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => {
            decode_as::<authz::v1::SelfSubjectRulesReview>(&raw)?
        }
        ("authorization.k8s.io/v1", "SubjectAccessReview") => {
            decode_as::<authz::v1::SubjectAccessReview>(&raw)?
        }
        ("authorization.k8s.io/v1", "LocalSubjectAccessReview") => {
            decode_as::<authz::v1::LocalSubjectAccessReview>(&raw)?
        }
        _ => return Err(unsupported(&format!("{api_version} {kind}"))),
    };
    v["apiVersion"] = json!(api_version);
    v["kind"] = json!(kind);
    if v.get("metadata").is_none() {
        v["metadata"] = json!({});
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;

    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let unknown = Unknown {
            type_meta: Some(k8s_pb::apimachinery::pkg::runtime::TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        let mut out = b"k8s\0".to_vec();
        out.extend(unknown.encode_to_vec());
        out
    }

    #[test]
    fn decodes_a_secret_and_a_job() {
        let secret = core::Secret {
            metadata: Some(meta::ObjectMeta {
                name: Some("s".into()),
                labels: [("a".to_string(), "b".to_string())].into(),
                ..Default::default()
            }),
            data: [("k".to_string(), b"v".to_vec())].into(),
            r#type: Some("Opaque".into()),
            ..Default::default()
        };
        let v = decode(&envelope("v1", "Secret", secret.encode_to_vec())).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "labels": {"a": "b"}}, "data": {"k": "dg=="}, "type": "Opaque"})
        );
        let job = batch::v1::Job {
            metadata: Some(meta::ObjectMeta {
                name: Some("j".into()),
                ..Default::default()
            }),
            spec: Some(batch::v1::JobSpec {
                template: Some(core::PodTemplateSpec {
                    spec: Some(core::PodSpec {
                        containers: vec![core::Container {
                            name: Some("c".into()),
                            image: Some("busybox".into()),
                            command: vec!["true".into()],
                            ..Default::default()
                        }],
                        restart_policy: Some("Never".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = decode(&envelope("batch/v1", "Job", job.encode_to_vec())).unwrap();
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["command"],
            json!(["true"])
        );
        assert_eq!(v["spec"]["template"]["spec"]["restartPolicy"], "Never");
    }
}
