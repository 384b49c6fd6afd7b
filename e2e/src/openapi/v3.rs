//! `/openapi/v3`: an index of per group-version documents, each advertising per kind a PATCH
//! operation that accepts `fieldValidation`, which is what makes kubectl validate on the server
//! (so plain `kubectl apply` works without `--validate=false`). Schemas come from CRDs; the
//! built-in kinds' are open objects.

use serde_json::{Value, json};

use crate::resources::{Registry, ResourceInfo};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the index of per group-version documents.
pub fn index(registry: &Registry) -> Value {
    let mut paths = serde_json::Map::new();
    let mut gvs: Vec<(String, String)> = Vec::new();
    for r in registry.all() {
        for v in &r.versions {
            if !gvs.contains(&(r.group.clone(), v.clone())) {
                gvs.push((r.group.clone(), v.clone()));
            }
        }
    }
    for (g, v) in gvs {
        let p = gv_path(&g, &v);
        // The hash lets clients cache; it changes whenever the document could.
        let hash = format!(
            "{:x}",
            registry
                .in_group_version(&g, &v)
                .map(|r| r.plural.len() + r.kind.len() * 31)
                .sum::<usize>()
        );
        paths.insert(
            p.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

fn schema_name(r: &ResourceInfo, version: &str) -> String {
    let group = if r.group.is_empty() {
        "core".to_string()
    } else {
        r.group.clone()
    };
    format!("{group}.{version}.{}", r.kind)
}

/// One group version's OpenAPI v3 document: a path per resource with a PATCH operation that
/// takes `fieldValidation`, and component schemas (the CRD's schema for custom resources).
pub fn group_version(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for r in registry.in_group_version(group, version) {
        let gvk = json!([{"group": r.group, "version": version, "kind": r.kind}]);
        let scope = if r.namespaced {
            "namespaces/{namespace}/"
        } else {
            ""
        };
        let path = format!("/{}/{scope}{}/{{name}}", gv_path(group, version), r.plural);
        let name = schema_name(r, version);
        // Strategic merge is deliberately not advertised: kubectl then computes strategic
        // patches from its compiled-in types, which carry the real merge keys.
        let body = json!({"content": {"application/merge-patch+json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}, "application/json-patch+json": {"schema": {"type": "object"}}, "application/apply-patch+yaml": {"schema": {"type": "object"}}}});
        let params = ["dryRun", "fieldManager", "fieldValidation", "force"]
            .iter()
            .map(|p| json!({"name": p, "in": "query", "schema": {"type": if *p == "force" { "boolean" } else { "string" }}}))
            .collect::<Vec<_>>();
        paths.insert(path, json!({
            "patch": {"operationId": format!("patch{}", r.kind), "x-kubernetes-group-version-kind": gvk[0], "x-kubernetes-action": "patch", "parameters": params, "requestBody": body, "responses": {"200": {"description": "OK"}}},
        }));
        let mut schema = r
            .custom
            .as_ref()
            .and_then(|c| c.schemas.get(version).cloned())
            .filter(Value::is_object)
            .unwrap_or_else(
                || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            );
        schema["x-kubernetes-group-version-kind"] = gvk;
        schemas.insert(name, schema);
    }
    if paths.is_empty() {
        return None;
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}
