//! batch/v1 Jobs: the selector and pod-template labels defaulted from the uid, spec defaults,
//! the template's restart policy, the immutable selector, template (unless suspended),
//! completions and completion mode, `kubectl get jobs` columns, and orphaning pods by default.

use k8s_pb::api::batch::v1 as batch;
use serde_json::{Value, json};

use super::pod;
use super::{BuiltinKind, Facts, FieldErrors, Protobuf, immutable, set_default};
use crate::protobuf::decode_as;
use crate::table::{self, Column, column};

pub struct Job;

impl BuiltinKind for Job {
    fn facts(&self) -> Facts {
        Facts::new("batch", "v1", "Job", "jobs").status().all()
    }

    fn on_create(&self, obj: &mut Value) {
        let uid = obj["metadata"]["uid"].clone();
        let name = obj["metadata"]["name"].clone();
        let spec = &mut obj["spec"];
        if spec.get("selector").is_none_or(Value::is_null) {
            spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
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

    fn on_write(&self, obj: &mut Value) {
        pod::template_defaults(&mut obj["spec"]["template"]["spec"]);
        let spec = &mut obj["spec"];
        set_default(spec, "parallelism", json!(1));
        set_default(spec, "completions", json!(1));
        set_default(spec, "backoffLimit", json!(6));
        set_default(spec, "completionMode", json!("NonIndexed"));
        set_default(spec, "suspend", json!(false));
        set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errors = Vec::new();
        pod::validate_spec(
            &obj["spec"]["template"]["spec"],
            "spec.template.spec",
            &["OnFailure", "Never"],
            &mut errors,
        );
        errors
    }

    fn validate_update(&self, old: &Value, new: &Value) -> FieldErrors {
        let (o, n) = (&old["spec"], &new["spec"]);
        let mut errors = Vec::new();
        for field in ["selector", "completionMode", "template"] {
            if o.get(field) != n.get(field) && !(field == "template" && o["suspend"] == true) {
                errors.push(immutable(&format!("spec.{field}"), &n[field]));
            }
        }
        if o["completions"] != n["completions"] {
            errors.push(immutable("spec.completions", &n["completions"]));
        }
        errors
    }

    fn columns(&self) -> Vec<Column> {
        table::named(vec![
            column("Status", "string", |o| json!(status(o))),
            column("Completions", "string", |o| {
                json!(format!(
                    "{}/{}",
                    o["status"]["succeeded"].as_i64().unwrap_or(0),
                    o["spec"]["completions"].as_i64().unwrap_or(1)
                ))
            }),
        ])
    }

    fn protobuf(&self) -> &'static [Protobuf] {
        &[Protobuf {
            api_version: "batch/v1",
            kind: "Job",
            decode: decode_as::<batch::Job>,
        }]
    }

    /// batch/v1 Jobs orphan their pods by default, for backwards compatibility.
    fn default_propagation(&self) -> &'static str {
        "Orphan"
    }
}

/// The STATUS column: Complete, Failed, Terminating, Suspended or Running.
fn status(job: &Value) -> String {
    let conditions = job["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let has = |t: &str| {
        conditions
            .iter()
            .any(|c| c["type"] == t && c["status"] == "True")
    };
    if has("Complete") {
        "Complete".into()
    } else if has("Failed") {
        "Failed".into()
    } else if !job["metadata"]["deletionTimestamp"].is_null() {
        "Terminating".into()
    } else if job["spec"]["suspend"] == true {
        "Suspended".into()
    } else {
        "Running".into()
    }
}
