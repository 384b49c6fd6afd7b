//! Discovery (`/version`, `/api`, `/apis`, per group-version resource lists) and the OpenAPI v3
//! documents kubectl reads. The OpenAPI documents advertise, per kind, a PATCH operation that
//! accepts `fieldValidation`, which is what makes kubectl validate on the server (so plain
//! `kubectl apply` works without `--validate=false`); schemas come from CRDs where known.

use serde_json::{Value, json};

use crate::rbac::VERBS;
use crate::resources::{Registry, ResourceInfo};

pub fn version() -> Value {
    json!({
        "major": "1", "minor": "32", "gitVersion": "v1.32.0-sluice", "gitCommit": "", "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64",
    })
}

pub fn core_versions(server: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]})
}

fn group_entry(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": vs, "preferredVersion": vs[0].clone()})
}

pub fn group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .groups()
        .iter()
        .map(|(g, vs)| group_entry(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(registry: &Registry, name: &str) -> Option<Value> {
    let (g, vs) = registry.groups().into_iter().find(|(g, _)| g == name)?;
    let mut entry = group_entry(&g, &vs);
    entry["kind"] = json!("APIGroup");
    entry["apiVersion"] = json!("v1");
    Some(entry)
}

/// `APIResourceList` for one group version, subresources included.
pub fn resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for r in registry.in_group_version(group, version) {
        let verbs: &[&str] = if r.review { &["create"] } else { VERBS };
        let mut entry = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
            "verbs": verbs, "storageVersionHash": "",
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        resources.push(entry);
        if r.status {
            resources.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}));
        }
        if r.log {
            resources.push(json!({"name": format!("{}/log", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": "Pod", "verbs": ["get"]}));
        }
        if r.scale {
            resources.push(json!({"name": format!("{}/scale", r.plural), "singularName": "", "namespaced": r.namespaced, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
        }
        if r.token {
            resources.push(json!({"name": "serviceaccounts/token", "singularName": "", "namespaced": true, "group": "authentication.k8s.io", "version": "v1", "kind": "TokenRequest", "verbs": ["create"]}));
        }
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: the index of per group-version documents.
pub fn openapi_index(registry: &Registry) -> Value {
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
pub fn openapi_group_version(registry: &Registry, group: &str, version: &str) -> Option<Value> {
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
