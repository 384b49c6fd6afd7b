//! Namespaces: the `kubernetes.io/metadata.name` label, the `kubernetes` finalizer and phase
//! Active on creation, RFC 1123 label names, and deletion that always terminates first (phase
//! Terminating; the namespace controller empties it, then removes it).

use k8s_pb::api::core::v1 as core;
use serde_json::{Value, json};

use super::{BuiltinKind, Facts, Protobuf, set_default};
use crate::protobuf::decode_as;
use crate::store::ObjKey;
use crate::table::{self, Column, column};

/// Where the namespace `name` is stored.
pub fn key(name: &str) -> ObjKey {
    ObjKey::new("", "namespaces", "", name)
}

pub struct Namespace;

impl BuiltinKind for Namespace {
    fn facts(&self) -> Facts {
        Facts::new("", "v1", "Namespace", "namespaces")
            .short(&["ns"])
            .cluster()
            .status()
    }

    fn on_create(&self, obj: &mut Value) {
        let name = obj["metadata"]["name"].clone();
        obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
        set_default(obj, "spec", json!({}));
        obj["spec"]["finalizers"] = json!(["kubernetes"]);
        obj["status"] = json!({"phase": "Active"});
    }

    fn invalid_name(&self, name: &str) -> Option<String> {
        crate::meta::invalid_name(name, true)
    }

    fn columns(&self) -> Vec<Column> {
        table::named(vec![column("Status", "string", |o| {
            o["status"]["phase"].clone()
        })])
    }

    fn protobuf(&self) -> &'static [Protobuf] {
        &[Protobuf {
            api_version: "v1",
            kind: "Namespace",
            decode: decode_as::<core::Namespace>,
        }]
    }

    fn is_namespace(&self) -> bool {
        true
    }

    fn terminates(&self) -> bool {
        true
    }

    fn on_marked_for_deletion(&self, obj: &mut Value) {
        obj["status"]["phase"] = json!("Terminating");
    }
}
