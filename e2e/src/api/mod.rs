//! Object semantics shared by HTTP handlers and the built-in controllers. This module holds
//! the cluster state and its lookups; `write` has create, update and patch (uid /
//! resourceVersion / generation bookkeeping, optimistic concurrency, status-subresource
//! separation, dry-run and validation), `delete` has deletion with finalizers and propagation,
//! `list` paged lists, `scale` the `scale` subresource.

mod delete;
mod list;
mod scale;
mod write;

pub use list::{ListOptions, ListPage};

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use serde_json::Value;

use crate::auth::{Auth, User, bearer};
use crate::error::{ApiError, ApiResult};
use crate::kinds::ReviewContext;
use crate::rbac::Rbac;
use crate::resources::{Registry, ResourceInfo};
use crate::selectors::Selectors;
use crate::serviceaccounts::Tokens;
use crate::store::{ObjKey, Store};

/// The whole control plane's state.
pub struct Cluster {
    pub store: Store,
    pub registry: RwLock<Registry>,
    pub auth: Auth,
    /// Where the kubelet keeps pod directories and logs.
    pub data_dir: PathBuf,
    /// Whether requests are authorized by RBAC (otherwise everything is allowed).
    pub rbac: bool,
    /// The server's URL, once it listens (for in-pod kubeconfigs).
    pub url: OnceLock<String>,
    /// Service-account tokens issued by TokenRequest and for pods.
    pub tokens: Tokens,
    /// Compiled CEL programs by source.
    pub cel: crate::celenv::Cache,
}

/// Which part of an object a write targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Main,
    Status,
}

/// What a request leaves behind besides its answer: `Warning` headers and audit annotations.
#[derive(Debug, Clone, Default)]
pub struct Notes(Arc<Mutex<NoteList>>);

#[derive(Debug, Default)]
struct NoteList {
    warnings: Vec<String>,
    annotations: Vec<(String, String)>,
    authorized: Vec<crate::auth::Authorization>,
}

impl Notes {
    fn lock(&self) -> std::sync::MutexGuard<'_, NoteList> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn warn(&self, message: String) {
        self.lock().warnings.push(message);
    }

    pub fn audit(&self, key: String, value: String) {
        self.lock().annotations.push((key, value));
    }

    pub fn warnings(&self) -> Vec<String> {
        self.lock().warnings.clone()
    }

    pub fn annotations(&self) -> Vec<(String, String)> {
        self.lock().annotations.clone()
    }

    /// Records an authorization check the request passed (the request log shows them).
    pub fn authorized(&self, check: crate::auth::Authorization) {
        self.lock().authorized.push(check);
    }

    pub fn authorizations(&self) -> Vec<crate::auth::Authorization> {
        self.lock().authorized.clone()
    }
}

/// Write options from the query string (`dryRun`, `fieldManager`, `fieldValidation`, `force`),
/// plus who is writing (admission sees the user; managed fields record the manager).
#[derive(Debug, Clone)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub strict: bool,
    pub force: bool,
    pub user: User,
    pub notes: Notes,
}

impl Default for WriteOptions {
    /// A write by the API server itself.
    fn default() -> Self {
        Self::by(User::system(), "kube-apiserver")
    }
}

impl WriteOptions {
    /// A write by a built-in component acting as `user`, recorded as field manager `manager`.
    pub fn by(user: User, manager: &str) -> Self {
        Self {
            dry_run: false,
            field_manager: Some(manager.into()),
            strict: false,
            force: false,
            user,
            notes: Notes::default(),
        }
    }
}

/// `DeleteOptions`: propagation policy and preconditions, and who deletes.
#[derive(Debug, Clone)]
pub struct DeleteOptions {
    pub propagation: Option<String>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
    pub user: User,
    pub notes: Notes,
}

impl Default for DeleteOptions {
    fn default() -> Self {
        Self::by(User::system())
    }
}

impl DeleteOptions {
    pub fn by(user: User) -> Self {
        Self {
            propagation: None,
            uid: None,
            resource_version: None,
            dry_run: false,
            user,
            notes: Notes::default(),
        }
    }
}

/// Outcome of a delete: the object, and whether it is gone (otherwise finalizers hold it).
pub struct Deleted {
    pub object: Value,
    pub gone: bool,
}

fn key(res: &ResourceInfo, ns: &str, name: &str) -> ObjKey {
    ObjKey::new(
        &res.storage_group,
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
    pub fn new(auth: Auth, data_dir: PathBuf, rbac: bool) -> Arc<Self> {
        Arc::new(Self {
            store: Store::default(),
            registry: RwLock::default(),
            auth,
            data_dir,
            rbac,
            url: OnceLock::new(),
            tokens: Tokens::default(),
            cel: Default::default(),
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
            .map(|o| crate::convert::to_served(res, o))
            .ok_or_else(|| ApiError::not_found(&res.group, &res.plural, name))
    }

    /// Matching objects (as served) and the store version they reflect.
    pub fn list(&self, res: &ResourceInfo, ns: Option<&str>, sel: &Selectors) -> (Vec<Value>, u64) {
        let inner = self.store.lock();
        let ns = ns.filter(|_| res.namespaced);
        let items = inner
            .list(&res.storage_group, &res.plural, ns)
            .map(|(_, v)| crate::convert::to_served(res, v))
            .filter(|v| sel.matches(v))
            .collect();
        (items, inner.rv())
    }

    /// Stops serving the resource a CRD defines.
    pub fn unregister_crd(&self, crd: &Value) {
        self.registry
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .unregister_crd(crd);
    }

    /// The user behind an `Authorization` header: a static token or an issued one.
    pub fn authenticate(&self, header: &str) -> Option<User> {
        self.authenticate_token(bearer(header)?)
    }

    pub fn authenticate_token(&self, token: &str) -> Option<User> {
        self.auth
            .static_user(token)
            .or_else(|| self.tokens.authenticate(&self.store, token))
    }

    /// Built-in controllers' shorthand: find the served resource for a stored key.
    pub fn resource_of(&self, key: &ObjKey) -> Option<ResourceInfo> {
        let registry = self.registry.read().unwrap_or_else(|e| e.into_inner());
        registry
            .all()
            .iter()
            .find(|r| key.same_resource(&r.storage_group, &r.plural))
            .cloned()
    }
}

impl ReviewContext for Cluster {
    fn authorizer(&self) -> Rbac {
        Rbac::snapshot(&self.store.lock(), self.rbac)
    }

    fn authenticate_token(&self, token: &str) -> Option<User> {
        Cluster::authenticate_token(self, token)
    }
}
