//! Object semantics shared by HTTP handlers and the built-in controllers. This module holds
//! the cluster state and its lookups; `write` has create, update and patch (uid /
//! resourceVersion / generation bookkeeping, optimistic concurrency, status-subresource
//! separation, dry-run and validation), `delete` has deletion with finalizers and propagation.

mod delete;
mod write;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::resources::{Registry, ResourceInfo};
use crate::selectors::Selectors;
use crate::store::{ObjKey, Store};

/// The whole control plane's state.
pub struct Cluster {
    pub store: Store,
    pub registry: RwLock<Registry>,
    pub auth: Auth,
    /// Where the kubelet keeps pod directories and logs.
    pub data_dir: PathBuf,
}

/// Which part of an object a write targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Main,
    Status,
}

/// Write options from the query string (`dryRun`, `fieldManager`, `fieldValidation`, `force`).
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub strict: bool,
    pub force: bool,
}

/// `DeleteOptions`: propagation policy and preconditions.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub propagation: Option<String>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

/// Outcome of a delete: the object, and whether it is gone (otherwise finalizers hold it).
pub struct Deleted {
    pub object: Value,
    pub gone: bool,
}

fn key(res: &ResourceInfo, ns: &str, name: &str) -> ObjKey {
    ObjKey::new(
        &res.group,
        &res.plural,
        if res.namespaced { ns } else { "" },
        name,
    )
}

fn finalizers(obj: &Value) -> Vec<Value> {
    obj["metadata"]["finalizers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

impl Cluster {
    pub fn new(auth: Auth, data_dir: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            store: Store::default(),
            registry: RwLock::default(),
            auth,
            data_dir,
        })
    }

    /// Resolves a URL triple to a served resource.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> ApiResult<ResourceInfo> {
        self.registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .find(group, version, plural)
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                )
            })
    }

    /// Resolves a resource by group and kind (controllers, owner references).
    pub fn resource_for_kind(&self, group: &str, kind: &str) -> Option<ResourceInfo> {
        self.registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .find_kind(group, kind)
            .cloned()
    }

    pub fn get(&self, res: &ResourceInfo, ns: &str, name: &str) -> ApiResult<Value> {
        self.store
            .lock()
            .get(&key(res, ns, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&res.group, &res.plural, name))
    }

    /// Matching objects and the store version they reflect.
    pub fn list(&self, res: &ResourceInfo, ns: Option<&str>, sel: &Selectors) -> (Vec<Value>, u64) {
        let inner = self.store.lock();
        let ns = ns.filter(|_| res.namespaced);
        let items = inner
            .list(&res.group, &res.plural, ns)
            .map(|(_, v)| v)
            .filter(|v| sel.matches(v))
            .cloned()
            .collect();
        (items, inner.rv())
    }

    pub fn unregister_crd(&self, crd: &Value) {
        if let (Some(group), Some(plural)) = (
            crd["spec"]["group"].as_str(),
            crd["spec"]["names"]["plural"].as_str(),
        ) {
            self.registry
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .unregister(group, plural);
        }
    }

    /// Built-in controllers' shorthand: find the served resource for a stored key.
    pub fn resource_of(&self, key: &ObjKey) -> Option<ResourceInfo> {
        let registry = self.registry.read().unwrap_or_else(|e| e.into_inner());
        registry
            .all()
            .iter()
            .find(|r| key.same_resource(&r.group, &r.plural))
            .cloned()
    }
}
