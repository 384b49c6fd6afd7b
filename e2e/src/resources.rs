//! The resource registry: which kinds are served, under which group/version/plural, and with
//! which behaviour (scope, subresources, generation tracking). The built-in kinds come from
//! `kinds`; custom resources join when their CRD is created and leave when the CRD is gone.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::kinds::{BuiltinKind, Facts, registry};
use crate::table::{self, Column};

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
    /// Has a `/token` subresource (service accounts).
    pub token: bool,
    /// A create-only review kind: computed per request, never stored.
    pub review: bool,
    /// Maintains `metadata.generation`.
    pub generation: bool,
    /// The built-in kind's own rules; `None` for custom resources.
    pub builtin: Option<&'static dyn BuiltinKind>,
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

    /// The `kubectl get` columns of `version`: a CRD's printer columns, or the built-in
    /// kind's.
    pub fn columns(&self, version: &str) -> Vec<Column> {
        match (&self.custom, self.builtin) {
            (Some(custom), _) => {
                table::printer_columns(custom.columns.get(version).map_or(&[], Vec::as_slice))
            }
            (None, Some(kind)) => kind.columns(),
            (None, None) => table::named(Vec::new()),
        }
    }

    fn builtin(kind: &'static dyn BuiltinKind) -> Self {
        let f: Facts = kind.facts();
        Self {
            group: f.group.into(),
            storage_group: f.storage_group.into(),
            versions: vec![f.version.into()],
            kind: f.kind.into(),
            plural: f.plural.into(),
            singular: f.kind.to_lowercase(),
            short_names: f.short_names.iter().map(|s| s.to_string()).collect(),
            categories: if f.all { vec!["all".into()] } else { vec![] },
            namespaced: f.namespaced,
            status: f.status,
            log: f.log,
            scale: f.scale,
            token: f.token,
            review: f.review,
            generation: f.generation,
            builtin: Some(kind),
            custom: None,
        }
    }
}

/// All served resources.
#[derive(Debug, Clone)]
pub struct Registry {
    resources: Vec<ResourceInfo>,
}

impl Default for Registry {
    fn default() -> Self {
        let resources = registry::all()
            .iter()
            .map(|k| ResourceInfo::builtin(*k))
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

    /// Stops serving the resource a CRD defines.
    pub fn unregister_crd(&mut self, crd: &Value) {
        if let Some((group, plural)) = crate::kinds::crd::defined_resource(crd) {
            self.unregister(group, plural);
        }
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
        token: false,
        review: false,
        generation: true,
        builtin: None,
        custom: Some(custom),
    })
}
