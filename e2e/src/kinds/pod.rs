//! Pods: defaults and a Pending first status, the container and restart-policy checks, the
//! immutable spec, `kubectl get pods` columns. The pod-spec rules here serve the workload
//! kinds' templates too.

use serde_json::{Value, json};

use super::{BuiltinKind, Facts, FieldErrors, set_default};
use crate::table::{self, Column, column};

pub struct Pod;

impl BuiltinKind for Pod {
    fn facts(&self) -> Facts {
        Facts::new("", "v1", "Pod", "pods")
            .short(&["po"])
            .status()
            .log()
            .all()
    }

    fn on_create(&self, obj: &mut Value) {
        obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
    }

    fn on_write(&self, obj: &mut Value) {
        let spec = &mut obj["spec"];
        set_default(spec, "restartPolicy", json!("Always"));
        set_default(spec, "serviceAccountName", json!("default"));
        set_default(spec, "terminationGracePeriodSeconds", json!(30));
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errors = Vec::new();
        validate_spec(
            &obj["spec"],
            "spec",
            &["Always", "OnFailure", "Never"],
            &mut errors,
        );
        errors
    }

    /// Only images, deadlines, tolerations and the grace period may change.
    fn validate_update(&self, old: &Value, new: &Value) -> FieldErrors {
        let (o, n) = (&old["spec"], &new["spec"]);
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
        if candidate == *o {
            return Vec::new();
        }
        vec![("spec".into(), format!("Forbidden: {POD_MUTABLE}"))]
    }

    fn columns(&self) -> Vec<Column> {
        table::named(vec![
            column("Ready", "string", |o| {
                let statuses = o["status"]["containerStatuses"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let ready = statuses.iter().filter(|s| s["ready"] == true).count();
                json!(format!(
                    "{ready}/{}",
                    o["spec"]["containers"].as_array().map_or(0, Vec::len)
                ))
            }),
            // kubectl shows the terminated reason rather than the phase for finished pods.
            column("Status", "string", |o| {
                let reason = &o["status"]["containerStatuses"][0]["state"]["terminated"]["reason"];
                if reason.is_string() {
                    reason.clone()
                } else {
                    o["status"]["phase"].clone()
                }
            }),
            column("Restarts", "string", |o| {
                json!(
                    o["status"]["containerStatuses"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|s| s["restartCount"].as_i64().unwrap_or(0))
                        .sum::<i64>()
                        .to_string()
                )
            }),
        ])
    }
}

const POD_MUTABLE: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Defaults of a pod spec that apply in workload templates too.
pub fn template_defaults(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "securityContext", json!({}));
}

/// A pod spec (at `at`) needs named containers with images, and one of the `restart`
/// policies.
pub fn validate_spec(spec: &Value, at: &str, restart: &[&str], errors: &mut FieldErrors) {
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
}
