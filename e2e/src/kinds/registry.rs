//! Every built-in kind, in the order discovery lists them, and the lookups the server makes:
//! by (group, resource) and by a protobuf envelope's type.

use super::{
    BuiltinKind, admission, config, crd, deployment, event, job, namespace, pod, rbac, reviews,
    service, serviceaccount, stored,
};
use crate::protobuf::Decoder;

static BUILTINS: &[&dyn BuiltinKind] = &[
    &namespace::Namespace,
    &config::ConfigMap,
    &config::Secret,
    &serviceaccount::ServiceAccount,
    &event::Event,
    &pod::Pod,
    &service::Service,
    &stored::ENDPOINTS,
    &job::Job,
    &deployment::DEPLOYMENT,
    &deployment::REPLICA_SET,
    &stored::LEASE,
    &event::EventsV1,
    &crd::CustomResourceDefinition,
    &rbac::ROLE,
    &rbac::ROLE_BINDING,
    &rbac::CLUSTER_ROLE,
    &rbac::CLUSTER_ROLE_BINDING,
    &reviews::SELF_SUBJECT_ACCESS_REVIEW,
    &reviews::SELF_SUBJECT_RULES_REVIEW,
    &reviews::SUBJECT_ACCESS_REVIEW,
    &reviews::LOCAL_SUBJECT_ACCESS_REVIEW,
    &reviews::TOKEN_REVIEW,
    &reviews::SELF_SUBJECT_REVIEW,
    &admission::POLICY,
    &admission::BINDING,
    &stored::POD_DISRUPTION_BUDGET,
    &stored::NETWORK_POLICY,
];

/// All built-in kinds.
pub fn all() -> &'static [&'static dyn BuiltinKind] {
    BUILTINS
}

/// The built-in kind served as `resource` in `group`.
pub fn lookup(group: &str, resource: &str) -> Option<&'static dyn BuiltinKind> {
    BUILTINS.iter().copied().find(|k| {
        let facts = k.facts();
        facts.group == group && facts.plural == resource
    })
}

/// How to decode a protobuf body whose envelope names `api_version` and `kind`.
pub fn protobuf_decoder(api_version: &str, kind: &str) -> Option<Decoder> {
    BUILTINS
        .iter()
        .flat_map(|k| k.protobuf())
        .find(|p| p.api_version == api_version && p.kind == kind)
        .map(|p| p.decode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protobuf::decode;
    use k8s_pb::api::batch::v1 as batch;
    use k8s_pb::api::core::v1 as core;
    use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
    use k8s_pb::apimachinery::pkg::runtime::Unknown;
    use prost::Message;
    use serde_json::json;

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
    fn each_kind_is_found_by_its_own_resource() {
        for kind in all() {
            let facts = kind.facts();
            let found = lookup(facts.group, facts.plural).map(|k| k.facts().kind);
            assert_eq!(found, Some(facts.kind), "{facts:?}");
        }
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
        let v = decode(
            &envelope("v1", "Secret", secret.encode_to_vec()),
            protobuf_decoder,
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "labels": {"a": "b"}}, "data": {"k": "dg=="}, "type": "Opaque"})
        );
        let job = batch::Job {
            metadata: Some(meta::ObjectMeta {
                name: Some("j".into()),
                ..Default::default()
            }),
            spec: Some(batch::JobSpec {
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
        let v = decode(
            &envelope("batch/v1", "Job", job.encode_to_vec()),
            protobuf_decoder,
        )
        .unwrap();
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["command"],
            json!(["true"])
        );
        assert_eq!(v["spec"]["template"]["spec"]["restartPolicy"], "Never");
    }
}
