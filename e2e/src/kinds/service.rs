//! Services, stored only: a made-up `clusterIP` on creation, type, session affinity and port
//! defaults, and `kubectl get services` columns. Nothing routes to them.

use k8s_pb::api::core::v1 as core;
use serde_json::{Value, json};

use super::{BuiltinKind, Facts, Protobuf, set_default};
use crate::protobuf::decode_as;
use crate::table::{self, Column, column};

pub struct Service;

impl BuiltinKind for Service {
    fn facts(&self) -> Facts {
        Facts::new("", "v1", "Service", "services")
            .short(&["svc"])
            .status()
            .all()
    }

    fn on_create(&self, obj: &mut Value) {
        let spec = &mut obj["spec"];
        if spec["clusterIP"].as_str().is_none_or(str::is_empty) && spec["type"] != "ExternalName" {
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

    fn on_write(&self, obj: &mut Value) {
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

    fn columns(&self) -> Vec<Column> {
        table::named(vec![
            column("Type", "string", |o| o["spec"]["type"].clone()),
            column("Cluster-IP", "string", |o| o["spec"]["clusterIP"].clone()),
            column("External-IP", "string", |_| json!("<none>")),
            column("Port(s)", "string", |o| {
                let ports: Vec<String> = o["spec"]["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP")))
                    .collect();
                json!(if ports.is_empty() {
                    "<none>".to_string()
                } else {
                    ports.join(",")
                })
            }),
        ])
    }

    fn protobuf(&self) -> &'static [Protobuf] {
        &[Protobuf {
            api_version: "v1",
            kind: "Service",
            decode: decode_as::<core::Service>,
        }]
    }
}
