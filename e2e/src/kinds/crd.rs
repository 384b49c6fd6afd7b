//! CustomResourceDefinitions: the cleanup finalizer and an established status on creation,
//! the name/group/versions checks, and the registry following them (their resources are served
//! while they exist; the CRD cleanup controller deletes the instances first).

use serde_json::{Value, json};

use super::{BuiltinKind, Facts, FieldErrors};

/// Holds a deleted CRD until its custom resources are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

pub struct CustomResourceDefinition;

impl BuiltinKind for CustomResourceDefinition {
    fn facts(&self) -> Facts {
        Facts::new(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
        )
        .short(&["crd", "crds"])
        .cluster()
        .status()
    }

    fn on_create(&self, obj: &mut Value) {
        let finalizers = obj["metadata"]["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !finalizers.iter().any(|f| f == CLEANUP_FINALIZER) {
            let mut f = finalizers;
            f.push(json!(CLEANUP_FINALIZER));
            obj["metadata"]["finalizers"] = Value::Array(f);
        }
        let now = crate::meta::now();
        let storage: Vec<Value> = obj["spec"]["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["storage"].as_bool().unwrap_or(false))
            .map(|v| v["name"].clone())
            .collect();
        obj["status"] = json!({
            "acceptedNames": obj["spec"]["names"].clone(),
            "storedVersions": storage,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
            ],
        });
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errors = Vec::new();
        let spec = &obj["spec"];
        let expected = format!(
            "{}.{}",
            spec["names"]["plural"].as_str().unwrap_or_default(),
            spec["group"].as_str().unwrap_or_default()
        );
        if obj["metadata"]["name"].as_str() != Some(expected.as_str()) {
            errors.push((
                "metadata.name".into(),
                format!(
                    "Invalid value: {}: must be spec.names.plural+\".\"+spec.group",
                    obj["metadata"]["name"]
                ),
            ));
        }
        if spec["names"]["kind"].as_str().is_none_or(str::is_empty) {
            errors.push(("spec.names.kind".into(), "Required value".into()));
        }
        if spec["versions"].as_array().is_none_or(Vec::is_empty) {
            errors.push((
                "spec.versions".into(),
                "Invalid value: must have exactly one version marked as storage version".into(),
            ));
        }
        errors
    }

    fn defines_resources(&self) -> bool {
        true
    }
}

/// The `(group, plural)` of the resource a CRD defines.
pub fn defined_resource(crd: &Value) -> Option<(&str, &str)> {
    Some((
        crd["spec"]["group"].as_str()?,
        crd["spec"]["names"]["plural"].as_str()?,
    ))
}
