//! The resource registry: which kinds are served, under which group/version/plural, and with
//! which behaviour (scope, subresources, generation tracking). Custom resources join it when
//! their CRD is created and leave it when the CRD is gone.

use std::collections::BTreeMap;

use serde_json::Value;

/// Everything the server needs to know about one served resource.
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    pub group: String,
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

/// Built-in resource table entry: `(group, version, kind, plural, namespaced, status, generation, short names)`.
type Builtin = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    bool,
    bool,
    &'static [&'static str],
);

const BUILTINS: &[Builtin] = &[
    (
        "",
        "v1",
        "Namespace",
        "namespaces",
        false,
        true,
        false,
        &["ns"],
    ),
    (
        "",
        "v1",
        "ConfigMap",
        "configmaps",
        true,
        false,
        false,
        &["cm"],
    ),
    ("", "v1", "Secret", "secrets", true, false, false, &[]),
    (
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        true,
        false,
        false,
        &["sa"],
    ),
    ("", "v1", "Event", "events", true, false, false, &["ev"]),
    ("", "v1", "Pod", "pods", true, true, true, &["po"]),
    ("batch", "v1", "Job", "jobs", true, true, true, &[]),
    (
        "coordination.k8s.io",
        "v1",
        "Lease",
        "leases",
        true,
        false,
        false,
        &[],
    ),
    (
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        true,
        false,
        false,
        &["ev"],
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
        true,
        true,
        &["crd", "crds"],
    ),
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
            .map(
                |&(group, version, kind, plural, namespaced, status, generation, short)| {
                    ResourceInfo {
                        group: group.into(),
                        versions: vec![version.into()],
                        kind: kind.into(),
                        plural: plural.into(),
                        singular: kind.to_lowercase(),
                        short_names: short.iter().map(|s| s.to_string()).collect(),
                        categories: if matches!(plural, "pods" | "jobs") {
                            vec!["all".into()]
                        } else {
                            vec![]
                        },
                        namespaced,
                        status,
                        log: plural == "pods",
                        generation,
                        custom: None,
                    }
                },
            )
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
    Some(ResourceInfo {
        group: spec["group"].as_str()?.to_string(),
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
        generation: true,
        custom: Some(custom),
    })
}
