//! apps/v1 Deployments and ReplicaSets: spec and template defaults, a selector that must
//! select the template (and never changes), `Always` restarts, and their `kubectl get`
//! columns. Both have a `scale` subresource.

use k8s_pb::api::apps::v1 as apps;
use serde_json::{Value, json};

use super::pod;
use super::{BuiltinKind, Facts, FieldErrors, Protobuf, immutable, set_default};
use crate::protobuf::decode_as;
use crate::table::{self, Column, column};

/// A kind that keeps pods from a template: what differs between the two is data.
pub struct Workload {
    facts: Facts,
    /// Defaults of the spec besides the template's.
    spec_defaults: fn(&mut Value),
    /// The columns between NAME and AGE.
    columns: fn() -> Vec<Column>,
    protobuf: &'static [Protobuf],
}

impl BuiltinKind for Workload {
    fn facts(&self) -> Facts {
        self.facts
    }

    fn on_write(&self, obj: &mut Value) {
        let spec = &mut obj["spec"];
        (self.spec_defaults)(spec);
        pod::template_defaults(&mut spec["template"]["spec"]);
        set_default(
            &mut spec["template"]["spec"],
            "restartPolicy",
            json!("Always"),
        );
    }

    /// The template's pod spec, and a selector that selects the template.
    fn validate(&self, obj: &Value) -> FieldErrors {
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

    fn validate_update(&self, old: &Value, new: &Value) -> FieldErrors {
        let (o, n) = (&old["spec"], &new["spec"]);
        if o.get("selector") == n.get("selector") {
            return Vec::new();
        }
        vec![immutable("spec.selector", &n["selector"])]
    }

    fn columns(&self) -> Vec<Column> {
        table::named((self.columns)())
    }

    fn protobuf(&self) -> &'static [Protobuf] {
        self.protobuf
    }
}

pub static DEPLOYMENT: Workload = Workload {
    facts: Facts::new("apps", "v1", "Deployment", "deployments")
        .short(&["deploy"])
        .status()
        .scale()
        .all(),
    spec_defaults: |spec| {
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
    },
    columns: || {
        vec![
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
        ]
    },
    protobuf: &[Protobuf {
        api_version: "apps/v1",
        kind: "Deployment",
        decode: decode_as::<apps::Deployment>,
    }],
};

pub static REPLICA_SET: Workload = Workload {
    facts: Facts::new("apps", "v1", "ReplicaSet", "replicasets")
        .short(&["rs"])
        .status()
        .scale()
        .all(),
    spec_defaults: |spec| set_default(spec, "replicas", json!(1)),
    columns: || {
        vec![
            column("Desired", "integer", |o| {
                json!(o["spec"]["replicas"].as_i64().unwrap_or(1))
            }),
            column("Current", "integer", |o| {
                json!(int(&o["status"]["replicas"]))
            }),
            column("Ready", "integer", |o| {
                json!(int(&o["status"]["readyReplicas"]))
            }),
        ]
    },
    protobuf: &[],
};

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}
