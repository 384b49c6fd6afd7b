//! Request attributes from a URL, as upstream's `RequestInfoFactory`: resource requests get
//! group, version, namespace, resource, name, subresource and the Kubernetes verb (`list` vs
//! `get`, `watch`, `deletecollection`); everything else is a non-resource path.

use std::collections::HashMap;

use http::Method;

use crate::auth::User;
use crate::rbac::Attributes;

/// What a request addresses.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub resource_request: bool,
    pub path: String,
    pub verb: String,
    pub group: String,
    pub version: String,
    pub namespace: String,
    pub resource: String,
    /// The object name in the URL.
    pub name: String,
    /// A list or watch narrowed to one name by `fieldSelector=metadata.name=...`.
    pub selector_name: String,
    pub subresource: String,
    /// The namespace came from a `/namespaces/{ns}/...` prefix (not the namespace object).
    pub namespaced_path: bool,
    /// Path segments past the subresource (a 404 when present).
    pub extra: usize,
}

fn http_verb(method: &Method) -> &'static str {
    match *method {
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "get",
    }
}

pub fn parse(method: &Method, path: &str, query: &HashMap<String, String>) -> RequestInfo {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut info = RequestInfo {
        path: path.to_string(),
        verb: http_verb(method).into(),
        ..Default::default()
    };
    let (group, rest) = match segs.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => {
            info.version = version.to_string();
            ("", rest)
        }
        ["apis", group, version, rest @ ..] if !rest.is_empty() => {
            info.version = version.to_string();
            (*group, rest)
        }
        _ => return info,
    };
    info.resource_request = true;
    info.group = group.into();
    let mut parts = rest;
    if parts[0] == "namespaces" && parts.len() > 1 {
        info.namespace = parts[1].into();
        if parts.len() > 2 && !matches!(parts[2], "status" | "finalize") {
            parts = &parts[2..];
            info.namespaced_path = true;
        }
    }
    info.resource = parts[0].into();
    info.name = parts.get(1).map(|s| s.to_string()).unwrap_or_default();
    info.subresource = parts.get(2).map(|s| s.to_string()).unwrap_or_default();
    info.extra = parts.len().saturating_sub(3);
    let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    if info.name.is_empty() {
        info.verb = match info.verb.as_str() {
            "get" if watch => "watch",
            "get" => "list",
            "delete" => "deletecollection",
            other => other,
        }
        .into();
        // A list or watch narrowed to one name is authorized for that name.
        if matches!(info.verb.as_str(), "list" | "watch")
            && let Some(sel) = query.get("fieldSelector")
            && let Some(name) = sel
                .split(',')
                .find_map(|t| t.trim().strip_prefix("metadata.name="))
        {
            info.selector_name = name.trim_start_matches('=').to_string();
        }
    } else if watch && info.verb == "get" {
        info.verb = "watch".into();
    }
    info
}

impl RequestInfo {
    /// The attributes RBAC decides on.
    pub fn attributes(&self, user: &User) -> Attributes {
        Attributes {
            user: user.clone(),
            verb: self.verb.clone(),
            namespace: self.namespace.clone(),
            group: self.group.clone(),
            version: self.version.clone(),
            resource: self.resource.clone(),
            subresource: self.subresource.clone(),
            name: if self.name.is_empty() {
                self.selector_name.clone()
            } else {
                self.name.clone()
            },
            path: (!self.resource_request).then(|| self.path.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(method: Method, path: &str, q: &[(&str, &str)]) -> RequestInfo {
        let q = q
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(&method, path, &q)
    }

    #[test]
    fn verbs_and_parts() {
        let i = info(Method::GET, "/api/v1/namespaces/ns/pods", &[]);
        assert_eq!((i.verb.as_str(), i.namespace.as_str()), ("list", "ns"));
        let i = info(Method::GET, "/api/v1/namespaces/ns/pods", &[("watch", "1")]);
        assert_eq!(i.verb, "watch");
        let i = info(Method::DELETE, "/apis/batch/v1/namespaces/ns/jobs", &[]);
        assert_eq!(i.verb, "deletecollection");
        let i = info(
            Method::PATCH,
            "/apis/sluice.dev/v1alpha1/namespaces/ns/promotions/p/status",
            &[],
        );
        assert_eq!(
            (
                i.group.as_str(),
                i.resource.as_str(),
                i.name.as_str(),
                i.subresource.as_str()
            ),
            ("sluice.dev", "promotions", "p", "status")
        );
        let i = info(Method::GET, "/api/v1/namespaces/foo", &[]);
        assert_eq!(
            (i.resource.as_str(), i.name.as_str(), i.namespace.as_str()),
            ("namespaces", "foo", "foo")
        );
        let i = info(Method::GET, "/apis", &[]);
        assert!(!i.resource_request);
        let i = info(
            Method::GET,
            "/api/v1/namespaces/ns/configmaps",
            &[("fieldSelector", "metadata.name=x")],
        );
        assert_eq!((i.name.as_str(), i.selector_name.as_str()), ("", "x"));
    }
}
