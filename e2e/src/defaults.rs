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
        ("", "services") => {
            let spec = &mut obj["spec"];
            if spec["clusterIP"].as_str().is_none_or(str::is_empty)
                && spec["type"] != "ExternalName"
            {
                let n = crate::meta::suffix()
                    .bytes()
                    .fold(0u32, |a, b| a * 31 + b as u32);
                spec["clusterIP"] = json!(format!("10.96.{}.{}", (n >> 8) % 256, n % 254 + 1));
            }
            if spec["clusterIP"].is_string() {
                spec["clusterIPs"] = json!([spec["clusterIP"]]);
            }
            obj["status"] = json!({"loadBalancer": {}});
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
        ("apps", "deployments") => {
            let spec = &mut obj["spec"];
            set_default(spec, "replicas", json!(1));
            set_default(spec, "revisionHistoryLimit", json!(10));
            set_default(spec, "progressDeadlineSeconds", json!(600));
            set_default(spec, "strategy", json!({"type": "RollingUpdate"}));
            if spec["strategy"]["type"] == "RollingUpdate" {
                set_default(&mut spec["strategy"], "rollingUpdate", json!({}));
                set_default(
                    &mut spec["strategy"]["rollingUpdate"],
                    "maxUnavailable",
                    json!("25%"),
                );
                set_default(
                    &mut spec["strategy"]["rollingUpdate"],
                    "maxSurge",
                    json!("25%"),
                );
            }
            pod_template_defaults(&mut spec["template"]["spec"]);
            set_default(
                &mut spec["template"]["spec"],
                "restartPolicy",
                json!("Always"),
            );
        }
        ("apps", "replicasets") => {
            set_default(&mut obj["spec"], "replicas", json!(1));
            pod_template_defaults(&mut obj["spec"]["template"]["spec"]);
            set_default(
                &mut obj["spec"]["template"]["spec"],
                "restartPolicy",
                json!("Always"),
            );
        }
        ("", "services") => {
            let spec = &mut obj["spec"];
            set_default(spec, "type", json!("ClusterIP"));
            set_default(spec, "sessionAffinity", json!("None"));
            for port in spec
                .get_mut("ports")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                set_default(port, "protocol", json!("TCP"));
                let target = port["port"].clone();
                set_default(port, "targetPort", target);
            }
        }
        ("batch", "jobs") => {
            pod_template_defaults(&mut obj["spec"]["template"]["spec"]);
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

/// Defaults of a pod spec that apply in templates too.
fn pod_template_defaults(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "securityContext", json!({}));
}

/// A workload's selector must select its own pod template.
fn selector_selects_template(obj: &Value, errors: &mut Vec<(String, String)>) {
    let selector = &obj["spec"]["selector"];
    if !selector.is_object() {
        errors.push(("spec.selector".into(), "Required value".into()));
        return;
    }
    let template = json!({"metadata": {"labels": obj["spec"]["template"]["metadata"]["labels"]}});
    if !crate::selectors::LabelSelector::from_object(selector).matches(&template) {
        errors.push((
            "spec.template.metadata.labels".into(),
            format!(
                "Invalid value: {}: `selector` does not match template `labels`",
                obj["spec"]["template"]["metadata"]["labels"]
            ),
        ));
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
        ("apps", "deployments" | "replicasets") => {
            pod_spec(
                &obj["spec"]["template"]["spec"],
                "spec.template.spec",
                &["Always"],
            );
            selector_selects_template(obj, &mut errors);
        }
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

const POD_MUTABLE: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

fn immutable(field: &str, value: &Value) -> (String, String) {
    (
        field.into(),
        format!("Invalid value: {value}: field is immutable"),
    )
}

/// Field errors for an update that changes what upstream keeps immutable: a pod's spec
/// (except images, deadlines and tolerations), a Job's selector, template, completions and
/// completion mode, a Deployment's or ReplicaSet's selector.
pub fn validate_update(res: &ResourceInfo, old: &Value, new: &Value) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let (o, n) = (&old["spec"], &new["spec"]);
    match (res.group.as_str(), res.plural.as_str()) {
        ("", "pods") => {
            let mut candidate = n.clone();
            for list in ["containers", "initContainers"] {
                if let (Some(cs), Some(olds)) = (
                    candidate.get_mut(list).and_then(Value::as_array_mut),
                    o[list].as_array(),
                ) {
                    for (c, oc) in cs.iter_mut().zip(olds) {
                        c["image"] = oc["image"].clone();
                    }
                }
            }
            for field in [
                "activeDeadlineSeconds",
                "tolerations",
                "terminationGracePeriodSeconds",
            ] {
                match o.get(field) {
                    Some(v) => candidate[field] = v.clone(),
                    None => {
                        if let Some(m) = candidate.as_object_mut() {
                            m.remove(field);
                        }
                    }
                }
            }
            if candidate != *o {
                errors.push(("spec".into(), format!("Forbidden: {POD_MUTABLE}")));
            }
        }
        ("batch", "jobs") => {
            for field in ["selector", "completionMode", "template"] {
                if o.get(field) != n.get(field) && !(field == "template" && o["suspend"] == true) {
                    errors.push(immutable(&format!("spec.{field}"), &n[field]));
                }
            }
            if o["completions"] != n["completions"] {
                errors.push(immutable("spec.completions", &n["completions"]));
            }
        }
        ("apps", "deployments" | "replicasets") if o.get("selector") != n.get("selector") => {
            errors.push(immutable("spec.selector", &n["selector"]));
        }
        _ => {}
    }
    errors
}
