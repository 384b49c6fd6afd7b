//! `/openapi/v2`: a Swagger 2.0 document, as JSON or (what kubectl asks for) protobuf.
//! kubectl validates on the client, with this document, what it cannot leave to the server:
//! the items of a `kind: List` (`kubectl get -o yaml` of several objects). It holds the
//! custom resources' schemas, published as upstream publishes CRD schemas to v2, with
//! `ObjectMeta` and what it refers to (from `k8s-openapi`). The built-in kinds are left out:
//! kubectl then skips them on the client (the server still validates each object it is sent)
//! and keeps computing their strategic merge patches from its compiled-in types, whose merge
//! keys a schema here would have to repeat exactly.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use crate::resources::{Registry, ResourceInfo};

/// The media type of the protobuf form, as the real server names it in responses (clients
/// ask for `...spec.v2@v1.0+protobuf`, which Go's media-type parser rejects).
pub const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// The document's JSON form.
pub fn document(registry: &Registry) -> Value {
    let mut generator = SchemaSettings::draft07().into_generator();
    generator.subschema_for::<ObjectMeta>();
    let mut definitions = generator.take_definitions(false);
    for r in registry.all() {
        for (version, schema) in r.custom.iter().flat_map(|c| &c.schemas) {
            definitions.insert(
                definition_name(r, version),
                custom_resource(r, version, schema),
            );
        }
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": {},
        "definitions": definitions,
    })
}

/// The document's protobuf form.
pub fn protobuf(registry: &Registry) -> Vec<u8> {
    super::proto::encode(&document(registry))
}

/// Upstream's name for a custom resource's definition: the group's labels reversed, then the
/// version and kind (`dev.sluice.v1alpha1.Promotion`).
fn definition_name(r: &ResourceInfo, version: &str) -> String {
    let mut labels: Vec<&str> = r.group.split('.').collect();
    labels.reverse();
    format!("{}.{version}.{}", labels.join("."), r.kind)
}

/// A CRD version's schema as upstream publishes it to v2: what v2 cannot say is dropped, the
/// root gets `apiVersion`, `kind` and a reference to `ObjectMeta`, and a root that preserves
/// unknown fields is an open object (kubectl would reject the fields it does not list).
fn custom_resource(r: &ResourceInfo, version: &str, schema: &Value) -> Value {
    let mut out = if !schema.is_object() || schema["x-kubernetes-preserve-unknown-fields"] == true {
        json!({"type": "object"})
    } else {
        let mut s = schema.clone();
        to_v2(&mut s);
        if !s["properties"].is_object() {
            s["properties"] = json!({});
        }
        let props = &mut s["properties"];
        props["metadata"] = json!({"$ref": format!("#/definitions/{OBJECT_META}"), "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"});
        props["apiVersion"] = json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"});
        props["kind"] = json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"});
        s
    };
    out["x-kubernetes-group-version-kind"] =
        json!([{"group": r.group, "version": version, "kind": r.kind}]);
    out
}

/// Upstream's `ToStructuralOpenAPIV2`: no junctors (`allOf`, `oneOf`, `anyOf`, `not`) and no
/// defaults; nullable values are untyped (and not required); values that keep unknown fields
/// list no properties; arrays without an item schema are untyped.
fn to_v2(s: &mut Value) {
    let Some(m) = s.as_object_mut() else { return };
    for k in ["allOf", "oneOf", "anyOf", "not", "default"] {
        m.remove(k);
    }
    if m.remove("nullable") == Some(Value::Bool(true)) {
        for k in ["type", "items", "properties"] {
            m.remove(k);
        }
    }
    if m.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        m.remove("properties");
    }
    if m.get("type").and_then(Value::as_str) == Some("array") && !m.contains_key("items") {
        m.remove("type");
    }
    let nullable = |v: &Value| v["nullable"] == true;
    let optional: Vec<String> = m
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, p)| nullable(p))
        .map(|(k, _)| k.clone())
        .collect();
    if m.get("additionalProperties").is_some_and(nullable) {
        m.remove("required");
    }
    if let Some(Value::Array(required)) = m.get_mut("required") {
        required.retain(|r| !r.as_str().is_some_and(|r| optional.iter().any(|o| o == r)));
    }
    for child in m
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(Map::values_mut)
    {
        to_v2(child);
    }
    for k in ["items", "additionalProperties"] {
        if let Some(child) = m.get_mut(k) {
            to_v2(child);
        }
    }
}
