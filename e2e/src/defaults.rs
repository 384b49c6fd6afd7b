//! Defaulting and validation of the built-in kinds, the parts clients observe: Job selectors
//! and pod-template labels, pod phase, namespace finalizers, Secret `stringData`, CRD
//! conditions. Custom resources are validated against their schema instead (`validation`).

use base64::Engine;
use serde_json::{Value, json};

use crate::resources::ResourceInfo;

pub const CRD_CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn set_default(obj: &mut Value, key: &str, value: Value) {
    if obj.get(key).is_none_or(Value::is_null) {
        obj[key] = value;
    }
}

/// Defaults applied on create only (they need the new uid, or shape the initial status).
pub fn on_create(res: &ResourceInfo, obj: &mut Value) {
    match (res.group.as_str(), res.plural.as_str()) {
        ("", "namespaces") => {
            let name = obj["metadata"]["name"].clone();
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
            set_default(obj, "spec", json!({}));
            obj["spec"]["finalizers"] = json!(["kubernetes"]);
            obj["status"] = json!({"phase": "Active"});
        }
        ("", "pods") => {
            obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
        }
        ("batch", "jobs") => {
            let uid = obj["metadata"]["uid"].clone();
            let name = obj["metadata"]["name"].clone();
            let spec = &mut obj["spec"];
            if spec.get("selector").is_none_or(Value::is_null) {
                spec["selector"] =
                    json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
            }
            let labels = &mut spec["template"]["metadata"]["labels"];
            for (k, v) in [
                ("controller-uid", &uid),
                ("batch.kubernetes.io/controller-uid", &uid),
                ("job-name", &name),
                ("batch.kubernetes.io/job-name", &name),
            ] {
                labels[k] = v.clone();
            }
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            let finalizers = obj["metadata"]["finalizers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !finalizers.iter().any(|f| f == CRD_CLEANUP_FINALIZER) {
                let mut f = finalizers;
                f.push(json!(CRD_CLEANUP_FINALIZER));
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
        _ => {}
    }
}

/// Defaults applied on every write.
pub fn on_write(res: &ResourceInfo, obj: &mut Value) {
    match (res.group.as_str(), res.plural.as_str()) {
        ("", "secrets") => {
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
        ("", "pods") => {
            let spec = &mut obj["spec"];
            set_default(spec, "restartPolicy", json!("Always"));
            set_default(spec, "serviceAccountName", json!("default"));
            set_default(spec, "terminationGracePeriodSeconds", json!(30));
        }
        ("batch", "jobs") => {
            let spec = &mut obj["spec"];
            set_default(spec, "parallelism", json!(1));
            set_default(spec, "completions", json!(1));
            set_default(spec, "backoffLimit", json!(6));
            set_default(spec, "completionMode", json!("NonIndexed"));
            set_default(spec, "suspend", json!(false));
            set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
        }
        _ => {}
    }
}

/// Field errors of a built-in object, as `(path, message)`.
pub fn validate(res: &ResourceInfo, obj: &Value) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let mut pod_spec = |spec: &Value, at: &str, restart: &[&str]| {
        match spec["containers"].as_array() {
            Some(cs) if !cs.is_empty() => {
                for (i, c) in cs.iter().enumerate() {
                    for field in ["name", "image"] {
                        if c[field].as_str().is_none_or(str::is_empty) {
                            errors.push((
                                format!("{at}.containers[{i}].{field}"),
                                "Required value".into(),
                            ));
                        }
                    }
                }
            }
            _ => errors.push((format!("{at}.containers"), "Required value".into())),
        }
        let policy = spec["restartPolicy"].as_str().unwrap_or_default();
        if !restart.contains(&policy) {
            let allowed: Vec<String> = restart.iter().map(|r| format!("{r:?}")).collect();
            errors.push((
                format!("{at}.restartPolicy"),
                format!(
                    "Unsupported value: {policy:?}: supported values: {}",
                    allowed.join(", ")
                ),
            ));
        }
    };
    match (res.group.as_str(), res.plural.as_str()) {
        ("", "pods") => pod_spec(&obj["spec"], "spec", &["Always", "OnFailure", "Never"]),
        ("batch", "jobs") => pod_spec(
            &obj["spec"]["template"]["spec"],
            "spec.template.spec",
            &["OnFailure", "Never"],
        ),
        ("", "configmaps") => {
            for (k, v) in obj["data"].as_object().into_iter().flatten() {
                if !v.is_string() {
                    errors.push((
                        format!("data[{k}]"),
                        "Invalid value: must be a string".into(),
                    ));
                }
            }
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
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
        }
        _ => {}
    }
    errors
}
