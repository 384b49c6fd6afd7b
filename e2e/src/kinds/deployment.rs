//! apps/v1 Deployments and ReplicaSets: spec and template defaults, a selector that must
//! select the template (and never changes), `Always` restarts, and their `kubectl get`
//! columns. Both have a `scale` subresource.

use k8s_pb::api::apps::v1 as apps;
use serde_json::{Value, json};

use super::pod;
use super::{BuiltinKind, Facts, FieldErrors, Protobuf, immutable, set_default};
use crate::protobuf::decode_as;
use crate::table::{self, Column, column};

pub struct Deployment;

pub struct ReplicaSet;

impl BuiltinKind for Deployment {
    fn facts(&self) -> Facts {
        Facts::new("apps", "v1", "Deployment", "deployments")
            .short(&["deploy"])
            .status()
            .scale()
            .all()
    }

    fn on_write(&self, obj: &mut Value) {
        let spec = &mut obj["spec"];
        set_default(spec, "replicas", json!(1));
        set_default(spec, "revisionHistoryLimit", json!(10));
        set_default(spec, "progressDeadlineSeconds", json!(600));
        set_default(spec, "strategy", json!({"type": "RollingUpdate"}));
        if spec["strategy"]["type"] == "RollingUpdate" {
            let strategy = &mut spec["strategy"];
            set_default(strategy, "rollingUpdate", json!({}));
            set_default(
                &mut strategy["rollingUpdate"],
                "maxUnavailable",
                json!("25%"),
            );
            set_default(&mut strategy["rollingUpdate"], "maxSurge", json!("25%"));
        }
        template_defaults(spec);
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_workload(obj)
    }

    fn validate_update(&self, old: &Value, new: &Value) -> FieldErrors {
        selector_unchanged(old, new)
    }

    fn columns(&self) -> Vec<Column> {
        table::named(vec![
            column("Ready", "string", |o| {
                json!(format!(
                    "{}/{}",
                    int(&o["status"]["readyReplicas"]),
                    o["spec"]["replicas"].as_i64().unwrap_or(1)
                ))
            }),
            column("Up-to-date", "integer", |o| {
                json!(int(&o["status"]["updatedReplicas"]))
            }),
            column("Available", "integer", |o| {
                json!(int(&o["status"]["availableReplicas"]))
            }),
        ])
    }

    fn protobuf(&self) -> &'static [Protobuf] {
        &[Protobuf {
            api_version: "apps/v1",
            kind: "Deployment",
            decode: decode_as::<apps::Deployment>,
        }]
    }
}

impl BuiltinKind for ReplicaSet {
    fn facts(&self) -> Facts {
        Facts::new("apps", "v1", "ReplicaSet", "replicasets")
            .short(&["rs"])
            .status()
            .scale()
            .all()
    }

    fn on_write(&self, obj: &mut Value) {
        set_default(&mut obj["spec"], "replicas", json!(1));
        template_defaults(&mut obj["spec"]);
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_workload(obj)
    }

    fn validate_update(&self, old: &Value, new: &Value) -> FieldErrors {
        selector_unchanged(old, new)
    }

    fn columns(&self) -> Vec<Column> {
        table::named(vec![
            column("Desired", "integer", |o| {
                json!(o["spec"]["replicas"].as_i64().unwrap_or(1))
            }),
            column("Current", "integer", |o| {
                json!(int(&o["status"]["replicas"]))
            }),
            column("Ready", "integer", |o| {
                json!(int(&o["status"]["readyReplicas"]))
            }),
        ])
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// The pod template's defaults; its pods always restart.
fn template_defaults(spec: &mut Value) {
    pod::template_defaults(&mut spec["template"]["spec"]);
    set_default(
        &mut spec["template"]["spec"],
        "restartPolicy",
        json!("Always"),
    );
}

/// The template's pod spec, and a selector that selects the template.
fn validate_workload(obj: &Value) -> FieldErrors {
    let mut errors = Vec::new();
    pod::validate_spec(
        &obj["spec"]["template"]["spec"],
        "spec.template.spec",
        &["Always"],
        &mut errors,
    );
    let selector = &obj["spec"]["selector"];
    if !selector.is_object() {
        errors.push(("spec.selector".into(), "Required value".into()));
        return errors;
    }
    let labels = &obj["spec"]["template"]["metadata"]["labels"];
    let template = json!({"metadata": {"labels": labels}});
    if !crate::selectors::LabelSelector::from_object(selector).matches(&template) {
        errors.push((
            "spec.template.metadata.labels".into(),
            format!("Invalid value: {labels}: `selector` does not match template `labels`"),
        ));
    }
    errors
}

fn selector_unchanged(old: &Value, new: &Value) -> FieldErrors {
    let (o, n) = (&old["spec"], &new["spec"]);
    if o.get("selector") == n.get("selector") {
        return Vec::new();
    }
    vec![immutable("spec.selector", &n["selector"])]
}
