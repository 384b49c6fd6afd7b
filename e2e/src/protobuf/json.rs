//! Protobuf messages of `k8s-pb` as the JSON clients send: field names in camelCase, unset
//! and empty fields left out, `bytes` as base64, and the special types (`Time`, `Quantity`,
//! `IntOrString`, `RawExtension`) in their JSON forms.

use std::collections::BTreeMap;

use base64::Engine;
use k8s_pb::api::core::v1 as core;
use k8s_pb::api::{apps, authentication as authn, authorization as authz, batch, rbac};
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::RawExtension;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Map, Value, json};

/// A protobuf message (or field value) as JSON.
pub trait ToJson {
    fn to_json(&self) -> Value;
}

impl ToJson for String {
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
}
impl ToJson for bool {
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
}
impl ToJson for i32 {
    fn to_json(&self) -> Value {
        json!(self)
    }
}
impl ToJson for i64 {
    fn to_json(&self) -> Value {
        json!(self)
    }
}
/// `bytes` fields are base64 in JSON.
impl ToJson for Vec<u8> {
    fn to_json(&self) -> Value {
        Value::String(base64::engine::general_purpose::STANDARD.encode(self))
    }
}
impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(ToJson::to_json).collect())
    }
}
impl<T: ToJson> ToJson for BTreeMap<String, T> {
    fn to_json(&self) -> Value {
        Value::Object(self.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
    }
}

/// Fields left out of the JSON: unset optionals, empty lists and maps (protobuf cannot tell
/// them from absent ones).
trait Field {
    fn field(&self) -> Option<Value>;
}
impl<T: ToJson> Field for Option<T> {
    fn field(&self) -> Option<Value> {
        self.as_ref().map(ToJson::to_json)
    }
}
impl<T: ToJson> Field for Vec<T> {
    fn field(&self) -> Option<Value> {
        (!self.is_empty()).then(|| self.to_json())
    }
}
impl Field for Vec<u8> {
    fn field(&self) -> Option<Value> {
        Some(self.to_json())
    }
}
impl<T: ToJson> Field for BTreeMap<String, T> {
    fn field(&self) -> Option<Value> {
        (!self.is_empty()).then(|| self.to_json())
    }
}

/// Go writes unset string fields as empty strings; JSON leaves them out (`omitempty`).
fn present(v: &Value) -> bool {
    v.as_str() != Some("")
}

/// `snake_case` (the generated field name) to the JSON name.
fn camel(rust: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in rust.trim_start_matches("r#").chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Implements `ToJson` for a message from its field list: `field`, `field => "jsonName"`, or
/// `..field` for an embedded message whose fields are inlined (e.g. `LocalObjectReference`).
macro_rules! message {
    ($ty:ty { $($body:tt)* }) => {
        impl ToJson for $ty {
            fn to_json(&self) -> Value {
                let mut m = Map::new();
                message!(@fields self m $($body)*);
                Value::Object(m)
            }
        }
    };
    (@fields $s:ident $m:ident) => {};
    (@fields $s:ident $m:ident .. $f:ident $(, $($rest:tt)*)?) => {
        if let Some(Value::Object(inner)) = $s.$f.field() {
            $m.extend(inner);
        }
        message!(@fields $s $m $($($rest)*)?);
    };
    (@fields $s:ident $m:ident $f:ident => $json:literal $(, $($rest:tt)*)?) => {
        if let Some(v) = $s.$f.field().filter(present) {
            $m.insert($json.to_string(), v);
        }
        message!(@fields $s $m $($($rest)*)?);
    };
    (@fields $s:ident $m:ident $f:ident $(, $($rest:tt)*)?) => {
        if let Some(v) = $s.$f.field().filter(present) {
            $m.insert(camel(stringify!($f)), v);
        }
        message!(@fields $s $m $($($rest)*)?);
    };
}

fn time(seconds: Option<i64>, nanos: Option<i32>, micros: bool) -> Value {
    let t = jiff::Timestamp::new(seconds.unwrap_or(0), nanos.unwrap_or(0)).unwrap_or_default();
    let format = if micros {
        "%Y-%m-%dT%H:%M:%S%.6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    Value::String(t.strftime(format).to_string())
}

impl ToJson for meta::Time {
    fn to_json(&self) -> Value {
        time(self.seconds, self.nanos, false)
    }
}
impl ToJson for meta::MicroTime {
    fn to_json(&self) -> Value {
        time(self.seconds, self.nanos, true)
    }
}
impl ToJson for Quantity {
    fn to_json(&self) -> Value {
        self.string.to_json_or_null()
    }
}
impl ToJson for IntOrString {
    fn to_json(&self) -> Value {
        match self.r#type {
            Some(1) => self.str_val.to_json_or_null(),
            _ => json!(self.int_val.unwrap_or(0)),
        }
    }
}
impl ToJson for RawExtension {
    fn to_json(&self) -> Value {
        self.raw
            .as_deref()
            .and_then(|r| serde_json::from_slice(r).ok())
            .unwrap_or(Value::Null)
    }
}
impl ToJson for meta::FieldsV1 {
    fn to_json(&self) -> Value {
        self.raw
            .as_deref()
            .and_then(|r| serde_json::from_slice(r).ok())
            .unwrap_or(Value::Null)
    }
}
impl ToJson for authz::v1::ExtraValue {
    fn to_json(&self) -> Value {
        self.items.to_json()
    }
}

trait OrNull {
    fn to_json_or_null(&self) -> Value;
}
impl<T: ToJson> OrNull for Option<T> {
    fn to_json_or_null(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToJson::to_json)
    }
}

message!(meta::ObjectMeta {
    name,
    generate_name,
    namespace,
    uid,
    resource_version,
    generation,
    creation_timestamp,
    deletion_timestamp,
    deletion_grace_period_seconds,
    labels,
    annotations,
    owner_references,
    finalizers,
    managed_fields
});
message!(meta::OwnerReference {
    api_version,
    kind,
    name,
    uid,
    controller,
    block_owner_deletion
});
message!(meta::ManagedFieldsEntry { manager, operation, api_version, time, fields_type, fields_v1 => "fieldsV1", subresource });
message!(meta::LabelSelector {
    match_labels,
    match_expressions
});
message!(meta::LabelSelectorRequirement {
    key,
    operator,
    values
});
message!(core::Namespace { metadata, spec });
message!(core::NamespaceSpec { finalizers });
message!(core::ConfigMap {
    metadata,
    immutable,
    data,
    binary_data
});
message!(core::Secret {
    metadata,
    immutable,
    data,
    string_data,
    r#type
});
message!(core::ServiceAccount {
    metadata,
    secrets,
    image_pull_secrets,
    automount_service_account_token
});
message!(core::LocalObjectReference { name });
message!(core::ObjectReference {
    kind,
    namespace,
    name,
    uid,
    api_version,
    resource_version,
    field_path
});
message!(core::PodTemplateSpec { metadata, spec });
message!(core::PodSpec {
    volumes,
    init_containers,
    containers,
    restart_policy,
    termination_grace_period_seconds,
    active_deadline_seconds,
    dns_policy,
    service_account_name,
    service_account,
    automount_service_account_token,
    node_name,
    security_context,
    image_pull_secrets,
    hostname,
    subdomain,
    scheduler_name,
    priority_class_name,
    enable_service_links
});
message!(core::Container {
    name,
    image,
    command,
    args,
    working_dir,
    ports,
    env_from,
    env,
    resources,
    volume_mounts,
    termination_message_path,
    termination_message_policy,
    image_pull_policy,
    security_context,
    stdin,
    stdin_once,
    tty
});
message!(core::EnvVar {
    name,
    value,
    value_from
});
message!(core::EnvVarSource {
    field_ref,
    config_map_key_ref,
    secret_key_ref
});
message!(core::ObjectFieldSelector {
    api_version,
    field_path
});
message!(core::SecretKeySelector { ..local_object_reference, key, optional });
message!(core::ConfigMapKeySelector { ..local_object_reference, key, optional });
message!(core::EnvFromSource {
    prefix,
    config_map_ref,
    secret_ref
});
message!(core::ConfigMapEnvSource { ..local_object_reference, optional });
message!(core::SecretEnvSource { ..local_object_reference, optional });
message!(core::ContainerPort { name, host_port, container_port, protocol, host_ip => "hostIP" });
message!(core::VolumeMount {
    name,
    read_only,
    mount_path,
    sub_path,
    sub_path_expr
});
message!(core::Volume {
    name,
    ..volume_source
});
message!(core::VolumeSource {
    empty_dir,
    secret,
    config_map
});
message!(core::ConfigMapVolumeSource { ..local_object_reference, items, default_mode, optional });
message!(core::SecretVolumeSource {
    secret_name,
    items,
    default_mode,
    optional
});
message!(core::EmptyDirVolumeSource { medium, size_limit });
message!(core::KeyToPath { key, path, mode });
message!(core::ResourceRequirements { limits, requests });
message!(core::PodSecurityContext {
    run_as_user,
    run_as_group,
    run_as_non_root,
    fs_group
});
message!(core::SecurityContext {
    privileged,
    run_as_user,
    run_as_group,
    run_as_non_root,
    read_only_root_filesystem,
    allow_privilege_escalation
});
message!(core::Service { metadata, spec });
message!(core::ServiceSpec { ports, selector, cluster_ip => "clusterIP", r#type, session_affinity });
message!(core::ServicePort {
    name,
    protocol,
    app_protocol,
    port,
    target_port,
    node_port
});
message!(batch::v1::Job { metadata, spec });
message!(batch::v1::JobSpec {
    parallelism,
    completions,
    active_deadline_seconds,
    backoff_limit,
    manual_selector,
    selector,
    template,
    ttl_seconds_after_finished,
    completion_mode,
    suspend
});
message!(apps::v1::Deployment { metadata, spec });
message!(apps::v1::DeploymentSpec {
    replicas,
    selector,
    template,
    strategy,
    min_ready_seconds,
    revision_history_limit,
    paused,
    progress_deadline_seconds
});
message!(apps::v1::DeploymentStrategy {
    r#type,
    rolling_update
});
message!(apps::v1::RollingUpdateDeployment {
    max_unavailable,
    max_surge
});
message!(rbac::v1::Role { metadata, rules });
message!(rbac::v1::ClusterRole {
    metadata,
    rules,
    aggregation_rule
});
message!(rbac::v1::AggregationRule {
    cluster_role_selectors
});
message!(rbac::v1::PolicyRule { verbs, api_groups, resources, resource_names, non_resource_ur_ls => "nonResourceURLs" });
message!(rbac::v1::RoleBinding {
    metadata,
    subjects,
    role_ref
});
message!(rbac::v1::ClusterRoleBinding {
    metadata,
    subjects,
    role_ref
});
message!(rbac::v1::Subject {
    kind,
    api_group,
    name,
    namespace
});
message!(rbac::v1::RoleRef {
    api_group,
    kind,
    name
});
message!(authn::v1::TokenRequest { metadata, spec });
message!(authn::v1::TokenRequestSpec {
    audiences,
    expiration_seconds,
    bound_object_ref
});
message!(authn::v1::BoundObjectReference { kind, api_version, name, u_id => "uid" });
message!(authn::v1::TokenReview { metadata, spec });
message!(authn::v1::TokenReviewSpec { token, audiences });
message!(authn::v1::SelfSubjectReview { metadata });
message!(authz::v1::SelfSubjectAccessReview { metadata, spec });
message!(authz::v1::SelfSubjectAccessReviewSpec {
    resource_attributes,
    non_resource_attributes
});
message!(authz::v1::ResourceAttributes {
    namespace,
    verb,
    group,
    version,
    resource,
    subresource,
    name
});
message!(authz::v1::NonResourceAttributes { path, verb });
message!(authz::v1::SelfSubjectRulesReview { metadata, spec });
message!(authz::v1::SelfSubjectRulesReviewSpec { namespace });
message!(authz::v1::SubjectAccessReview { metadata, spec });
message!(authz::v1::LocalSubjectAccessReview { metadata, spec });
message!(authz::v1::SubjectAccessReviewSpec {
    resource_attributes,
    non_resource_attributes,
    user,
    groups,
    extra,
    uid
});
