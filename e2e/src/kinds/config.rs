//! Secrets (type Opaque by default, `stringData` folded into base64 `data`) and ConfigMaps
//! (string values only; a DATA column).

use base64::Engine;
use k8s_pb::api::core::v1 as core;
use serde_json::{Value, json};

use super::{BuiltinKind, Facts, FieldErrors, Protobuf, set_default};
use crate::protobuf::decode_as;
use crate::table::{self, Column, column};

pub struct Secret;

pub struct ConfigMap;

impl BuiltinKind for Secret {
    fn facts(&self) -> Facts {
        Facts::new("", "v1", "Secret", "secrets")
    }

    fn on_write(&self, obj: &mut Value) {
        set_default(obj, "type", json!("Opaque"));
        if let Some(Value::Object(string_data)) =
            obj.as_object_mut().and_then(|o| o.remove("stringData"))
        {
            for (k, v) in string_data {
                let encoded = base64::engine::general_purpose::STANDARD
                    .encode(v.as_str().unwrap_or_default());
                obj["data"][k] = Value::String(encoded);
            }
        }
    }

    fn protobuf(&self) -> &'static [Protobuf] {
        &[Protobuf {
            api_version: "v1",
            kind: "Secret",
            decode: decode_as::<core::Secret>,
        }]
    }
}

impl BuiltinKind for ConfigMap {
    fn facts(&self) -> Facts {
        Facts::new("", "v1", "ConfigMap", "configmaps").short(&["cm"])
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errors = Vec::new();
        for (k, v) in obj["data"].as_object().into_iter().flatten() {
            if !v.is_string() {
                errors.push((
                    format!("data[{k}]"),
                    "Invalid value: must be a string".into(),
                ));
            }
        }
        errors
    }

    fn columns(&self) -> Vec<Column> {
        table::named(vec![column("Data", "integer", |o| {
            json!(o["data"].as_object().map_or(0, |d| d.len()))
        })])
    }

    fn protobuf(&self) -> &'static [Protobuf] {
        &[Protobuf {
            api_version: "v1",
            kind: "ConfigMap",
            decode: decode_as::<core::ConfigMap>,
        }]
    }
}
