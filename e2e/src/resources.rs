//! The resource registry: which kinds are served, under which group/version/plural, and with
//! which behaviour (scope, subresources, generation tracking). Custom resources join it when
//! their CRD is created and leave it when the CRD is gone.

use std::collections::BTreeMap;

use serde_json::Value;

/// Everything the server needs to know about one served resource.
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    pub group: String,
    /// The group objects are stored under: `events.k8s.io` Events share core Events' storage.
    pub storage_group: String,
    /// Served versions; the first is the preferred (storage) version.
    pub versions: Vec<String>,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    /// Has a `/status` subresource: status and spec are written separately.
    pub status: bool,
    /// Has a `/log` subresource (pods).
    pub log: bool,
    /// Has a `/scale` subresource (`spec.replicas`).
    pub scale: bool,
    /// A create-only review kind: computed per request, never stored.
    pub review: bool,
    /// Maintains `metadata.generation`.
    pub generation: bool,
    /// Schemas and printer columns for custom resources, per version.
    pub custom: Option<CustomInfo>,
}

#[derive(Debug, Clone, Default)]
pub struct CustomInfo {
    pub schemas: BTreeMap<String, Value>,
    pub columns: BTreeMap<String, Vec<Value>>,
}

impl CustomInfo {
    /// The schema of the version `obj` is written in (or any served one).
    pub fn schema_for(&self, obj: &Value) -> Option<&Value> {
        let version = obj["apiVersion"]
            .as_str()
            .and_then(|a| a.rsplit('/').next());
        version
            .and_then(|v| self.schemas.get(v))
            .or_else(|| self.schemas.values().next())
            .filter(|s| s.is_object())
    }
}

impl ResourceInfo {
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    pub fn preferred_version(&self) -> &str {
        &self.versions[0]
    }
}

/// A built-in kind: `(group, version, kind, plural, short names)` plus its behaviour.
struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    short: &'static [&'static str],
    cluster: bool,
    status: bool,
    generation: bool,
    scale: bool,
    all: bool,
    /// Create-only reviews (access reviews, token reviews): answered, never stored.
    review: bool,
}

const fn kind(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    short: &'static [&'static str],
) -> Builtin {
    Builtin {
        group,
        version,
        kind,
        plural,
        short,
        cluster: false,
        status: false,
        generation: false,
        scale: false,
        all: false,
        review: false,
    }
}

impl Builtin {
    const fn cluster(mut self) -> Self {
        self.cluster = true;
        self
    }
    /// A `/status` subresource and `metadata.generation`.
    const fn status(mut self) -> Self {
        self.status = true;
        self.generation = true;
        self
    }
    const fn generation(mut self) -> Self {
        self.generation = true;
        self
    }
    const fn scale(mut self) -> Self {
        self.scale = true;
        self
    }
    /// In the `all` category (`kubectl get all`).
    const fn all(mut self) -> Self {
        self.all = true;
        self
    }
    const fn review(mut self) -> Self {
        self.review = true;
        self
    }
}

const RBAC: &str = "rbac.authorization.k8s.io";
const AUTHZ: &str = "authorization.k8s.io";
const AUTHN: &str = "authentication.k8s.io";
const ADMISSION: &str = "admissionregistration.k8s.io";

const BUILTINS: &[Builtin] = &[
    kind("", "v1", "Namespace", "namespaces", &["ns"])
        .cluster()
        .status(),
    kind("", "v1", "ConfigMap", "configmaps", &["cm"]),
    kind("", "v1", "Secret", "secrets", &[]),
    kind("", "v1", "ServiceAccount", "serviceaccounts", &["sa"]),
    kind("", "v1", "Event", "events", &["ev"]),
    kind("", "v1", "Pod", "pods", &["po"]).status().all(),
    kind("", "v1", "Service", "services", &["svc"])
        .status()
        .all(),
    kind("", "v1", "Endpoints", "endpoints", &["ep"]),
    kind("batch", "v1", "Job", "jobs", &[]).status().all(),
    kind("apps", "v1", "Deployment", "deployments", &["deploy"])
        .status()
        .scale()
        .all(),
    kind("apps", "v1", "ReplicaSet", "replicasets", &["rs"])
        .status()
        .scale()
        .all(),
    kind("coordination.k8s.io", "v1", "Lease", "leases", &[]),
    kind("events.k8s.io", "v1", "Event", "events", &["ev"]),
    kind(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        &["crd", "crds"],
    )
    .cluster()
    .status(),
    kind(RBAC, "v1", "Role", "roles", &[]),
    kind(RBAC, "v1", "RoleBinding", "rolebindings", &[]),
    kind(RBAC, "v1", "ClusterRole", "clusterroles", &[]).cluster(),
    kind(RBAC, "v1", "ClusterRoleBinding", "clusterrolebindings", &[]).cluster(),
    kind(
        AUTHZ,
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        &[],
    )
    .cluster()
    .review(),
    kind(
        AUTHZ,
        "v1",
        "SelfSubjectRulesReview",
        "selfsubjectrulesreviews",
        &[],
    )
    .cluster()
    .review(),
    kind(
        AUTHZ,
        "v1",
        "SubjectAccessReview",
        "subjectaccessreviews",
        &[],
    )
    .cluster()
    .review(),
    kind(
        AUTHZ,
        "v1",
        "LocalSubjectAccessReview",
        "localsubjectaccessreviews",
        &[],
    )
    .review(),
    kind(AUTHN, "v1", "TokenReview", "tokenreviews", &[])
        .cluster()
        .review(),
    kind(AUTHN, "v1", "SelfSubjectReview", "selfsubjectreviews", &[])
        .cluster()
        .review(),
    kind(
        ADMISSION,
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        &[],
    )
    .cluster()
    .status(),
    kind(
        ADMISSION,
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        &[],
    )
    .cluster()
    .generation(),
    kind(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        &["pdb"],
    )
    .status(),
    kind(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        &["netpol"],
    )
    .generation(),
];

/// All served resources.
#[derive(Debug, Clone)]
pub struct Registry {
    resources: Vec<ResourceInfo>,
}

impl Default for Registry {
    fn default() -> Self {
        let resources = BUILTINS
            .iter()
            .map(|b| ResourceInfo {
                group: b.group.into(),
                storage_group: if b.plural == "events" { "" } else { b.group }.into(),
                versions: vec![b.version.into()],
                kind: b.kind.into(),
                plural: b.plural.into(),
                singular: b.kind.to_lowercase(),
                short_names: b.short.iter().map(|s| s.to_string()).collect(),
                categories: if b.all { vec!["all".into()] } else { vec![] },
                namespaced: !b.cluster,
                status: b.status,
                log: b.plural == "pods",
                scale: b.scale,
                review: b.review,
                generation: b.generation,
                custom: None,
            })
            .collect();
        Self { resources }
    }
}

impl Registry {
    pub fn all(&self) -> &[ResourceInfo] {
        &self.resources
    }

    /// Looks a resource up by the URL triple clients use.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceInfo> {
        self.resources.iter().find(|r| {
            r.group == group && r.plural == plural && r.versions.iter().any(|v| v == version)
        })
    }

    pub fn find_kind(&self, group: &str, kind: &str) -> Option<&ResourceInfo> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.kind == kind)
    }

    /// `(group, versions)` in registration order, core group excluded.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for r in self.resources.iter().filter(|r| !r.group.is_empty()) {
            match groups.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, versions)) => {
                    for v in &r.versions {
                        if !versions.contains(v) {
                            versions.push(v.clone());
                        }
                    }
                }
                None => groups.push((r.group.clone(), r.versions.clone())),
            }
        }
        groups
    }

    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a ResourceInfo> {
        self.resources
            .iter()
            .filter(move |r| r.group == group && r.versions.iter().any(|v| v == version))
    }

    /// Registers (or re-registers) the resource a CRD describes.
    pub fn register_crd(&mut self, crd: &Value) -> Option<ResourceInfo> {
        let info = crd_resource(crd)?;
        self.unregister(&info.group, &info.plural);
        self.resources.push(info.clone());
        Some(info)
    }

    pub fn unregister(&mut self, group: &str, plural: &str) {
        self.resources
            .retain(|r| !(r.group == group && r.plural == plural));
    }
}

/// Builds the registry entry for a CRD object (`apiextensions.k8s.io/v1`).
pub fn crd_resource(crd: &Value) -> Option<ResourceInfo> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let str_list = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut versions: Vec<&Value> = spec["versions"]
        .as_array()?
        .iter()
        .filter(|v| v["served"].as_bool().unwrap_or(true))
        .collect();
    // The storage version is the one served by preference.
    versions.sort_by_key(|v| !v["storage"].as_bool().unwrap_or(false));
    let mut custom = CustomInfo::default();
    let mut status = false;
    for v in &versions {
        let name = v["name"].as_str()?.to_string();
        status |= v["subresources"]["status"].is_object();
        custom
            .schemas
            .insert(name.clone(), v["schema"]["openAPIV3Schema"].clone());
        custom.columns.insert(
            name,
            v["additionalPrinterColumns"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
    }
    let kind = names["kind"].as_str()?.to_string();
    let group = spec["group"].as_str()?.to_string();
    Some(ResourceInfo {
        storage_group: group.clone(),
        group,
        versions: versions
            .iter()
            .filter_map(|v| v["name"].as_str().map(String::from))
            .collect(),
        singular: names["singular"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| kind.to_lowercase()),
        kind,
        plural: names["plural"].as_str()?.to_string(),
        short_names: str_list(&names["shortNames"]),
        categories: str_list(&names["categories"]),
        namespaced: spec["scope"].as_str() != Some("Cluster"),
        status,
        log: false,
        scale: false,
        review: false,
        generation: true,
        custom: Some(custom),
    })
}
