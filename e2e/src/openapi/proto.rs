//! The protobuf form of a Swagger 2.0 document (gnostic's `openapi.v2.Document`), which is
//! the only form client-go's `OpenAPISchema` accepts. Only the messages a document of
//! definitions needs are here; every field keeps its number from gnostic's `OpenAPIv2.proto`.
//! Values without a typed field (vendor extensions, `enum`, `default`) travel as YAML, as
//! gnostic's do; their JSON text is YAML.

use prost::Message;
use serde_json::Value;

#[derive(Clone, PartialEq, Message)]
struct Document {
    #[prost(string, tag = "1")]
    swagger: String,
    #[prost(message, optional, tag = "2")]
    info: Option<Info>,
    #[prost(message, optional, tag = "8")]
    paths: Option<Paths>,
    #[prost(message, optional, tag = "9")]
    definitions: Option<Definitions>,
}

#[derive(Clone, PartialEq, Message)]
struct Info {
    #[prost(string, tag = "1")]
    title: String,
    #[prost(string, tag = "2")]
    version: String,
}

/// No paths are served: kubectl reads only the definitions.
#[derive(Clone, PartialEq, Message)]
struct Paths {}

#[derive(Clone, PartialEq, Message)]
struct Definitions {
    #[prost(message, repeated, tag = "1")]
    additional_properties: Vec<NamedSchema>,
}

#[derive(Clone, PartialEq, Message)]
struct NamedSchema {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<Schema>,
}

#[derive(Clone, PartialEq, Message)]
struct Properties {
    #[prost(message, repeated, tag = "1")]
    additional_properties: Vec<NamedSchema>,
}

#[derive(Clone, PartialEq, Message)]
struct Any {
    #[prost(string, tag = "2")]
    yaml: String,
}

#[derive(Clone, PartialEq, Message)]
struct NamedAny {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<Any>,
}

#[derive(Clone, PartialEq, Message)]
struct TypeItem {
    #[prost(string, repeated, tag = "1")]
    value: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct ItemsItem {
    #[prost(message, repeated, tag = "1")]
    schema: Vec<Schema>,
}

#[derive(Clone, PartialEq, Message)]
struct AdditionalPropertiesItem {
    #[prost(oneof = "Additional", tags = "1, 2")]
    oneof: Option<Additional>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Additional {
    #[prost(message, boxed, tag = "1")]
    Schema(Box<Schema>),
    #[prost(bool, tag = "2")]
    Boolean(bool),
}

#[derive(Clone, PartialEq, Message)]
struct Schema {
    #[prost(string, tag = "1")]
    r#ref: String,
    #[prost(string, tag = "2")]
    format: String,
    #[prost(string, tag = "3")]
    title: String,
    #[prost(string, tag = "4")]
    description: String,
    #[prost(message, optional, tag = "5")]
    default: Option<Any>,
    #[prost(double, tag = "6")]
    multiple_of: f64,
    #[prost(double, tag = "7")]
    maximum: f64,
    #[prost(bool, tag = "8")]
    exclusive_maximum: bool,
    #[prost(double, tag = "9")]
    minimum: f64,
    #[prost(bool, tag = "10")]
    exclusive_minimum: bool,
    #[prost(int64, tag = "11")]
    max_length: i64,
    #[prost(int64, tag = "12")]
    min_length: i64,
    #[prost(string, tag = "13")]
    pattern: String,
    #[prost(int64, tag = "14")]
    max_items: i64,
    #[prost(int64, tag = "15")]
    min_items: i64,
    #[prost(bool, tag = "16")]
    unique_items: bool,
    #[prost(int64, tag = "17")]
    max_properties: i64,
    #[prost(int64, tag = "18")]
    min_properties: i64,
    #[prost(string, repeated, tag = "19")]
    required: Vec<String>,
    #[prost(message, repeated, tag = "20")]
    r#enum: Vec<Any>,
    #[prost(message, optional, tag = "21")]
    additional_properties: Option<AdditionalPropertiesItem>,
    #[prost(message, optional, tag = "22")]
    r#type: Option<TypeItem>,
    #[prost(message, optional, tag = "23")]
    items: Option<ItemsItem>,
    #[prost(message, repeated, tag = "24")]
    all_of: Vec<Schema>,
    #[prost(message, optional, tag = "25")]
    properties: Option<Properties>,
    #[prost(string, tag = "26")]
    discriminator: String,
    #[prost(bool, tag = "27")]
    read_only: bool,
    #[prost(message, repeated, tag = "31")]
    vendor_extension: Vec<NamedAny>,
}

fn yaml(v: &Value) -> Any {
    Any {
        yaml: v.to_string(),
    }
}

fn named(map: &serde_json::Map<String, Value>) -> Vec<NamedSchema> {
    map.iter()
        .map(|(name, s)| NamedSchema {
            name: name.clone(),
            value: Some(schema(s)),
        })
        .collect()
}

/// A JSON schema as a gnostic `Schema`; keywords Swagger 2.0 lacks are left out.
fn schema(v: &Value) -> Schema {
    let string = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let float = |k: &str| v[k].as_f64().unwrap_or_default();
    let int = |k: &str| v[k].as_i64().unwrap_or_default();
    let flag = |k: &str| v[k].as_bool().unwrap_or_default();
    let strings = |k: &str| -> Vec<String> {
        match &v[k] {
            Value::String(s) => vec![s.clone()],
            other => other
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(String::from))
                .collect(),
        }
    };
    let additional = match &v["additionalProperties"] {
        Value::Bool(b) => Some(Additional::Boolean(*b)),
        s @ Value::Object(_) => Some(Additional::Schema(Box::new(schema(s)))),
        _ => None,
    };
    let items = match &v["items"] {
        Value::Array(list) => Some(list.iter().map(schema).collect()),
        s @ Value::Object(_) => Some(vec![schema(s)]),
        _ => None,
    };
    Schema {
        r#ref: string("$ref"),
        format: string("format"),
        title: string("title"),
        description: string("description"),
        default: v.get("default").map(yaml),
        multiple_of: float("multipleOf"),
        maximum: float("maximum"),
        exclusive_maximum: flag("exclusiveMaximum"),
        minimum: float("minimum"),
        exclusive_minimum: flag("exclusiveMinimum"),
        max_length: int("maxLength"),
        min_length: int("minLength"),
        pattern: string("pattern"),
        max_items: int("maxItems"),
        min_items: int("minItems"),
        unique_items: flag("uniqueItems"),
        max_properties: int("maxProperties"),
        min_properties: int("minProperties"),
        required: strings("required"),
        r#enum: v["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .map(yaml)
            .collect(),
        additional_properties: additional.map(|a| AdditionalPropertiesItem { oneof: Some(a) }),
        r#type: v.get("type").map(|_| TypeItem {
            value: strings("type"),
        }),
        items: items.map(|schema| ItemsItem { schema }),
        all_of: v["allOf"]
            .as_array()
            .into_iter()
            .flatten()
            .map(schema)
            .collect(),
        properties: v["properties"].as_object().map(|p| Properties {
            additional_properties: named(p),
        }),
        discriminator: string("discriminator"),
        read_only: flag("readOnly"),
        vendor_extension: v
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.starts_with("x-"))
            .map(|(k, x)| NamedAny {
                name: k.clone(),
                value: Some(yaml(x)),
            })
            .collect(),
    }
}

/// The protobuf encoding of a Swagger 2.0 document in its JSON form.
pub fn encode(doc: &Value) -> Vec<u8> {
    Document {
        swagger: doc["swagger"].as_str().unwrap_or("2.0").to_string(),
        info: Some(Info {
            title: doc["info"]["title"].as_str().unwrap_or_default().into(),
            version: doc["info"]["version"].as_str().unwrap_or_default().into(),
        }),
        paths: Some(Paths {}),
        definitions: doc["definitions"].as_object().map(|d| Definitions {
            additional_properties: named(d),
        }),
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn definitions_round_trip_through_the_wire_format() {
        let doc = json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1"}, "definitions": {
            "a.v1.K": {"type": "object", "required": ["spec"], "properties": {
                "spec": {"type": "object", "additionalProperties": {"type": "string"}},
                "list": {"type": "array", "items": {"$ref": "#/definitions/b"}},
                "open": {"type": "object", "additionalProperties": true},
            }, "x-kubernetes-group-version-kind": [{"group": "a", "version": "v1", "kind": "K"}]},
        }});
        let decoded = Document::decode(encode(&doc).as_slice()).unwrap();
        let defs = decoded.definitions.unwrap().additional_properties;
        let k = defs[0].value.as_ref().unwrap();
        assert_eq!(
            (defs[0].name.as_str(), k.required.clone()),
            ("a.v1.K", vec!["spec".to_string()])
        );
        let props = &k.properties.as_ref().unwrap().additional_properties;
        let names: Vec<&str> = props.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["list", "open", "spec"]);
        let list = props[0].value.as_ref().unwrap();
        assert_eq!(
            list.items.as_ref().unwrap().schema[0].r#ref,
            "#/definitions/b"
        );
        let open = props[1]
            .value
            .as_ref()
            .unwrap()
            .additional_properties
            .as_ref()
            .unwrap();
        assert_eq!(open.oneof, Some(Additional::Boolean(true)));
        assert_eq!(
            k.vendor_extension[0].name,
            "x-kubernetes-group-version-kind"
        );
        assert_eq!(
            k.vendor_extension[0].value.as_ref().unwrap().yaml,
            r#"[{"group":"a","kind":"K","version":"v1"}]"#
        );
    }
}
