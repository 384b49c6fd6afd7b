//! The `scale` subresource (`autoscaling/v1` Scale) of the kinds that have one: a view of
//! `spec.replicas`, `status.replicas` and the selector; writes change `spec.replicas`.

use serde_json::{Value, json};

use super::{Cluster, Part, WriteOptions};
use crate::error::{ApiError, ApiResult};
use crate::patch::{self, PatchType};
use crate::resources::ResourceInfo;
use crate::selectors::LabelSelector;

/// The Scale view of an object.
fn scale_of(obj: &Value) -> Value {
    let selector = LabelSelector::from_object(&obj["spec"]["selector"]).to_string();
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"], "uid": obj["metadata"]["uid"], "resourceVersion": obj["metadata"]["resourceVersion"], "creationTimestamp": obj["metadata"]["creationTimestamp"]},
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

impl Cluster {
    /// GET (`change` is `None`), PUT (no patch type) or PATCH `{resource}/{name}/scale`.
    pub fn scale(
        &self,
        res: &ResourceInfo,
        ns: &str,
        name: &str,
        change: Option<(Option<PatchType>, Value)>,
        opts: &WriteOptions,
    ) -> ApiResult<Value> {
        let obj = self.get(res, ns, name)?;
        let Some((kind, body)) = change else {
            return Ok(scale_of(&obj));
        };
        let mut scale = scale_of(&obj);
        match kind {
            None => scale = body,
            Some(PatchType::Json) => patch::json_patch(&mut scale, &body)?,
            Some(PatchType::Apply) => {
                return Err(ApiError::unsupported_media("application/apply-patch+yaml"));
            }
            Some(_) => patch::merge_patch(&mut scale, &body),
        }
        let replicas = scale["spec"]["replicas"].as_i64().ok_or_else(|| {
            ApiError::invalid(
                "autoscaling",
                "Scale",
                name,
                vec![("spec.replicas".into(), "Required value".into())],
            )
        })?;
        if replicas < 0 {
            return Err(ApiError::invalid(
                "autoscaling",
                "Scale",
                name,
                vec![(
                    "spec.replicas".into(),
                    format!("Invalid value: {replicas}: must be greater than or equal to 0"),
                )],
            ));
        }
        let mut body = json!({"spec": {"replicas": replicas}});
        if let Some(rv) = scale["metadata"]["resourceVersion"].as_str() {
            body["metadata"] = json!({"resourceVersion": rv});
        }
        let updated = self.patch(res, ns, name, PatchType::Merge, body, Part::Main, opts)?;
        Ok(scale_of(&updated))
    }
}
