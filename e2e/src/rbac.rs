//! RBAC authorization (`rbac.authorization.k8s.io/v1`): request attributes, the rule matching
//! of upstream's RBAC authorizer (verbs, API groups, resources with `*/subresource`,
//! `resourceNames`, non-resource URLs with `*` suffixes), bindings to users, groups and service
//! accounts, the `Forbidden` wording, and the bootstrap roles a fresh cluster has.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::auth::{Authorization, User};
use crate::error::ApiError;
use crate::store::Inner;

const RBAC: &str = "rbac.authorization.k8s.io";

/// What a request wants to do, as upstream's `authorizer.Attributes`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    pub user: User,
    pub verb: String,
    pub namespace: String,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// Set for non-resource requests (`/version`, `/apis`, ...).
    pub path: Option<String>,
}

impl Attributes {
    pub fn resource(user: &User, verb: &str, group: &str, resource: &str) -> Self {
        Self {
            user: user.clone(),
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            ..Default::default()
        }
    }

    pub fn in_namespace(mut self, ns: &str) -> Self {
        self.namespace = ns.into();
        self
    }

    pub fn named(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    pub fn subresource(mut self, subresource: &str) -> Self {
        self.subresource = subresource.into();
        self
    }

    /// What this check asked, for the request log.
    pub fn authorization(&self) -> Authorization {
        Authorization {
            verb: self.verb.clone(),
            group: self.group.clone(),
            resource: self.resource.clone(),
            subresource: self.subresource.clone(),
            namespace: self.namespace.clone(),
            path: self.path.clone(),
        }
    }
}

/// An authorization answer; `reason` explains a denial when RBAC had something to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

/// The roles and bindings at one moment, detached from the store so policies can consult it.
#[derive(Debug, Clone, Default)]
pub struct Rbac {
    /// `false`: every request is allowed (the cluster runs without authorization).
    pub enabled: bool,
    roles: HashMap<(String, String), Vec<Value>>,
    cluster_roles: HashMap<String, Vec<Value>>,
    bindings: Vec<Value>,
    cluster_bindings: Vec<Value>,
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

fn has(list: &Value, want: &str) -> bool {
    strings(list).any(|s| s == "*" || s == want)
}

fn rules(obj: &Value) -> Vec<Value> {
    obj["rules"].as_array().cloned().unwrap_or_default()
}

impl Rbac {
    pub fn snapshot(inner: &Inner, enabled: bool) -> Self {
        let mut rbac = Self {
            enabled,
            ..Default::default()
        };
        if !enabled {
            return rbac;
        }
        for (k, v) in inner.list(RBAC, "roles", None) {
            rbac.roles
                .insert((k.namespace.clone(), k.name.clone()), rules(v));
        }
        for (k, v) in inner.list(RBAC, "clusterroles", None) {
            rbac.cluster_roles.insert(k.name.clone(), rules(v));
        }
        rbac.bindings = inner
            .list(RBAC, "rolebindings", None)
            .map(|(_, v)| v.clone())
            .collect();
        rbac.cluster_bindings = inner
            .list(RBAC, "clusterrolebindings", None)
            .map(|(_, v)| v.clone())
            .collect();
        rbac
    }

    /// Rules granted to `user` in `namespace` (cluster-wide ones when empty), plus errors for
    /// bindings whose role is missing.
    pub fn rules_for(&self, user: &User, namespace: &str) -> (Vec<Value>, Vec<String>) {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        let mut collect = |binding: &Value, binding_ns: &str| {
            if !binds(binding, binding_ns, user) {
                return;
            }
            let role = &binding["roleRef"];
            let name = role["name"].as_str().unwrap_or_default();
            let found = if role["kind"] == "ClusterRole" {
                self.cluster_roles.get(name).ok_or_else(|| {
                    format!("clusterrole.rbac.authorization.k8s.io \"{name}\" not found")
                })
            } else {
                self.roles
                    .get(&(binding_ns.to_string(), name.to_string()))
                    .ok_or_else(|| format!("role.rbac.authorization.k8s.io \"{name}\" not found"))
            };
            match found {
                Ok(rules) => out.extend(rules.iter().cloned()),
                Err(e) => errors.push(e),
            }
        };
        for b in &self.cluster_bindings {
            collect(b, "");
        }
        if !namespace.is_empty() {
            for b in self
                .bindings
                .iter()
                .filter(|b| b["metadata"]["namespace"] == namespace)
            {
                collect(b, namespace);
            }
        }
        (out, errors)
    }

    pub fn authorize(&self, a: &Attributes) -> Decision {
        if !self.enabled || a.user.is_master() {
            return Decision {
                allowed: true,
                reason: String::new(),
            };
        }
        let (rules, errors) = self.rules_for(&a.user, &a.namespace);
        let allowed = rules.iter().any(|r| rule_allows(r, a));
        let reason = match (allowed, errors.len()) {
            (true, _) | (_, 0) => String::new(),
            (false, 1) => format!("RBAC: {}", errors[0]),
            (false, _) => format!("RBAC: [{}]", errors.join(", ")),
        };
        Decision { allowed, reason }
    }
}

/// Whether `binding` names `user` among its subjects.
fn binds(binding: &Value, binding_ns: &str, user: &User) -> bool {
    binding["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| {
            let name = s["name"].as_str().unwrap_or_default();
            match s["kind"].as_str() {
                Some("User") => user.name == name,
                Some("Group") => user.groups.iter().any(|g| g == name),
                Some("ServiceAccount") => {
                    let ns = s["namespace"]
                        .as_str()
                        .filter(|n| !n.is_empty())
                        .unwrap_or(binding_ns);
                    user.name == format!("system:serviceaccount:{ns}:{name}")
                }
                _ => false,
            }
        })
}

/// Upstream's `RuleAllows`.
pub fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    if !has(&rule["verbs"], &a.verb) {
        return false;
    }
    if let Some(path) = &a.path {
        return strings(&rule["nonResourceURLs"]).any(|u| {
            u == "*" || u == path || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
        });
    }
    let combined = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let resource_ok = strings(&rule["resources"]).any(|r| {
        r == "*"
            || r == combined
            || (!a.subresource.is_empty() && r.strip_prefix("*/") == Some(&a.subresource))
    });
    let names = &rule["resourceNames"];
    has(&rule["apiGroups"], &a.group)
        && resource_ok
        && (strings(names).next().is_none() || strings(names).any(|n| n == a.name))
}

/// The 403 upstream answers for a denied request.
pub fn forbidden(a: &Attributes, reason: &str) -> ApiError {
    let who = &a.user.name;
    let detail = match &a.path {
        Some(path) => format!("User {who:?} cannot {} path {path:?}", a.verb),
        None => {
            let mut resource = a.resource.clone();
            if !a.subresource.is_empty() {
                resource = format!("{resource}/{}", a.subresource);
            }
            let scope = if a.namespace.is_empty() {
                "at the cluster scope".to_string()
            } else {
                format!("in the namespace {:?}", a.namespace)
            };
            format!(
                "User {who:?} cannot {} resource {resource:?} in API group {:?} {scope}",
                a.verb, a.group
            )
        }
    };
    let detail = if reason.is_empty() {
        detail
    } else {
        format!("{detail}: {reason}")
    };
    let qualified = if a.group.is_empty() {
        a.resource.clone()
    } else {
        format!("{}.{}", a.resource, a.group)
    };
    let message = match (&a.path, a.name.is_empty()) {
        (Some(_), _) => format!("forbidden: {detail}"),
        (None, true) => format!("{qualified} is forbidden: {detail}"),
        (None, false) => format!("{qualified} {:?} is forbidden: {detail}", a.name),
    };
    let mut err = ApiError::new(403, "Forbidden", message);
    if a.path.is_none() {
        err.details = Some(json!({"name": a.name, "group": a.group, "kind": a.resource}));
    }
    err
}

/// A bootstrap object: labelled and annotated as upstream's defaults are.
fn bootstrap_meta(name: &str) -> Value {
    json!({"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}, "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}})
}

fn cluster_role(name: &str, rules: Value) -> (&'static str, Value) {
    (
        "clusterroles",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": bootstrap_meta(name), "rules": rules}),
    )
}

fn aggregated(name: &str, label: &str) -> (&'static str, Value) {
    let (plural, mut role) = cluster_role(name, json!([]));
    role["aggregationRule"] = json!({"clusterRoleSelectors": [{"matchLabels": {label: "true"}}]});
    (plural, role)
}

fn aggregate_to(name: &str, label: &str, rules: Value) -> (&'static str, Value) {
    let (plural, mut role) = cluster_role(name, rules);
    role["metadata"]["labels"][label] = json!("true");
    (plural, role)
}

fn binding(name: &str, role: &str, groups: &[&str]) -> (&'static str, Value) {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"kind": "Group", "apiGroup": RBAC, "name": g}))
        .collect();
    (
        "clusterrolebindings",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": bootstrap_meta(name), "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role}, "subjects": subjects}),
    )
}

/// The verbs of resource requests, as discovery advertises them for every stored kind.
pub const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The verbs that only read.
const READ: &[&str] = &["get", "list", "watch"];

/// The verbs that write: every other verb.
fn write_verbs() -> Vec<&'static str> {
    VERBS
        .iter()
        .copied()
        .filter(|v| !READ.contains(v))
        .collect()
}

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": groups, "resources": resources, "verbs": verbs})
}

/// The default cluster roles and bindings (a subset of upstream's bootstrap policy):
/// `cluster-admin`, the aggregated `admin`/`edit`/`view`, discovery, basic-user and
/// public-info-viewer, bound as upstream binds them.
pub fn bootstrap() -> Vec<(&'static str, Value)> {
    let workloads = [
        "pods",
        "services",
        "configmaps",
        "secrets",
        "serviceaccounts",
        "events",
        "endpoints",
    ];
    let apps = [
        "deployments",
        "replicasets",
        "deployments/scale",
        "replicasets/scale",
    ];
    let view = json!([
        rule(
            &[""],
            &[
                "pods",
                "pods/log",
                "pods/status",
                "services",
                "services/status",
                "configmaps",
                "serviceaccounts",
                "events",
                "endpoints",
                "namespaces",
                "namespaces/status"
            ],
            READ
        ),
        rule(
            &["apps"],
            &[
                "deployments",
                "deployments/status",
                "deployments/scale",
                "replicasets",
                "replicasets/status",
                "replicasets/scale"
            ],
            READ
        ),
        rule(&["batch"], &["jobs", "jobs/status"], READ),
        rule(&["events.k8s.io"], &["events"], READ),
        rule(&["coordination.k8s.io"], &["leases"], READ),
        rule(
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
            READ
        ),
        rule(&["networking.k8s.io"], &["networkpolicies"], READ),
    ]);
    let write = &write_verbs();
    let edit = json!([
        rule(&[""], &workloads, write),
        rule(&[""], &["secrets"], READ),
        rule(&[""], &["serviceaccounts/token"], &["create"]),
        rule(&["apps"], &apps, write),
        rule(&["batch"], &["jobs"], write),
        rule(&["events.k8s.io"], &["events"], write),
        rule(&["coordination.k8s.io"], &["leases"], write),
        rule(&["policy"], &["poddisruptionbudgets"], write),
        rule(&["networking.k8s.io"], &["networkpolicies"], write),
    ]);
    let admin = json!([
        rule(&[RBAC], &["roles", "rolebindings"], VERBS),
        rule(
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews"],
            &["create"]
        ),
    ]);
    let discovery = json!([{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]}]);
    let public = json!([{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}]);
    let basic = json!([
        rule(
            &["authorization.k8s.io"],
            &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            &["create"]
        ),
        rule(
            &["authentication.k8s.io"],
            &["selfsubjectreviews"],
            &["create"]
        ),
    ]);
    vec![
        cluster_role(
            "cluster-admin",
            json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        ),
        aggregated("admin", "rbac.authorization.k8s.io/aggregate-to-admin"),
        aggregated("edit", "rbac.authorization.k8s.io/aggregate-to-edit"),
        aggregated("view", "rbac.authorization.k8s.io/aggregate-to-view"),
        aggregate_to(
            "system:aggregate-to-admin",
            "rbac.authorization.k8s.io/aggregate-to-admin",
            admin,
        ),
        aggregate_to(
            "system:aggregate-to-edit",
            "rbac.authorization.k8s.io/aggregate-to-edit",
            edit,
        ),
        aggregate_to(
            "system:aggregate-to-view",
            "rbac.authorization.k8s.io/aggregate-to-view",
            view,
        ),
        cluster_role("system:discovery", discovery),
        cluster_role("system:public-info-viewer", public),
        cluster_role("system:basic-user", basic),
        binding("cluster-admin", "cluster-admin", &["system:masters"]),
        binding(
            "system:discovery",
            "system:discovery",
            &["system:authenticated"],
        ),
        binding(
            "system:basic-user",
            "system:basic-user",
            &["system:authenticated"],
        ),
        binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            &["system:authenticated", "system:unauthenticated"],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_verbs_subresources_and_names() {
        let r = json!({"apiGroups": ["sluice.dev"], "resources": ["promotions", "*/status"], "verbs": ["approve", "get"], "resourceNames": ["p1"]});
        let alice = User::new("alice", &[]);
        let a = Attributes::resource(&alice, "approve", "sluice.dev", "promotions").named("p1");
        assert!(rule_allows(&r, &a));
        assert!(!rule_allows(&r, &a.clone().named("p2")));
        assert!(rule_allows(
            &r,
            &Attributes::resource(&alice, "get", "sluice.dev", "promotions")
                .subresource("status")
                .named("p1")
        ));
        assert!(!rule_allows(
            &r,
            &Attributes::resource(&alice, "delete", "sluice.dev", "promotions").named("p1")
        ));
        let nr = json!({"nonResourceURLs": ["/apis/*"], "verbs": ["get"]});
        let mut a = Attributes::resource(&alice, "get", "", "");
        a.path = Some("/apis/apps".into());
        assert!(rule_allows(&nr, &a));
    }

    #[test]
    fn forbidden_is_worded_as_upstream() {
        let bob = User::new("bob", &[]);
        let a = Attributes::resource(&bob, "list", "", "pods").in_namespace("default");
        assert_eq!(
            forbidden(&a, "").message,
            "pods is forbidden: User \"bob\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        );
        let a = Attributes::resource(&bob, "patch", "sluice.dev", "promotions")
            .subresource("status")
            .named("p");
        assert_eq!(
            forbidden(&a, "").message,
            "promotions.sluice.dev \"p\" is forbidden: User \"bob\" cannot patch resource \"promotions/status\" in API group \"sluice.dev\" at the cluster scope"
        );
    }
}
