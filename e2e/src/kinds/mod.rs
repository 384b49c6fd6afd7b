//! The built-in kinds, one file each. A kind is its schema facts (names, scope, subresources)
//! plus whatever it adds to the generic API machinery: defaults, validation, update rules,
//! `kubectl get` columns, protobuf decoding, deletion and storage quirks, review answers. Every
//! hook but the facts has a default, so a kind implements only what it needs; `registry` maps
//! (group, resource) to the kinds. Custom resources are not kinds here: their rules come from
//! their CRD's schema.

pub mod admission;
pub mod config;
pub mod crd;
pub mod deployment;
pub mod event;
pub mod job;
pub mod namespace;
pub mod pod;
pub mod rbac;
pub mod registry;
pub mod reviews;
pub mod service;
pub mod serviceaccount;
pub mod stored;

use serde_json::Value;

use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::protobuf::Decoder;
use crate::table::{self, Column};

/// Field errors as `(path, message)`, the causes of a 422.
pub type FieldErrors = Vec<(String, String)>;

/// What the API machinery needs to know to serve a kind: its names, scope and subresources.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub short_names: &'static [&'static str],
    /// The group objects are stored under (`events.k8s.io` Events share core Events' store).
    pub storage_group: &'static str,
    pub namespaced: bool,
    /// A `/status` subresource: status and spec are written separately.
    pub status: bool,
    /// Maintains `metadata.generation`.
    pub generation: bool,
    /// A `/scale` subresource (`spec.replicas`).
    pub scale: bool,
    /// A `/log` subresource (pods).
    pub log: bool,
    /// A `/token` subresource (service accounts' TokenRequest).
    pub token: bool,
    /// In the `all` category (`kubectl get all`).
    pub all: bool,
    /// A create-only review: answered per request, never stored.
    pub review: bool,
}

impl Facts {
    /// A namespaced kind stored under its own group, with no subresources.
    pub const fn new(
        group: &'static str,
        version: &'static str,
        kind: &'static str,
        plural: &'static str,
    ) -> Self {
        Self {
            group,
            version,
            kind,
            plural,
            short_names: &[],
            storage_group: group,
            namespaced: true,
            status: false,
            generation: false,
            scale: false,
            log: false,
            token: false,
            all: false,
            review: false,
        }
    }

    pub const fn short(mut self, names: &'static [&'static str]) -> Self {
        self.short_names = names;
        self
    }

    pub const fn cluster(mut self) -> Self {
        self.namespaced = false;
        self
    }

    /// A `/status` subresource and `metadata.generation`.
    pub const fn status(mut self) -> Self {
        self.status = true;
        self.generation = true;
        self
    }

    pub const fn generation(mut self) -> Self {
        self.generation = true;
        self
    }

    pub const fn scale(mut self) -> Self {
        self.scale = true;
        self
    }

    pub const fn log(mut self) -> Self {
        self.log = true;
        self
    }

    pub const fn token(mut self) -> Self {
        self.token = true;
        self
    }

    pub const fn all(mut self) -> Self {
        self.all = true;
        self
    }

    pub const fn review(mut self) -> Self {
        self.review = true;
        self
    }

    pub const fn stored_as(mut self, group: &'static str) -> Self {
        self.storage_group = group;
        self
    }

    /// `group/version`, or the version alone for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// A protobuf message a kind accepts as a request body, by the envelope's type.
pub struct Protobuf {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub decode: Decoder,
}

/// What answering a review needs from the cluster.
pub trait ReviewContext {
    /// The roles and bindings now (`enabled` is false when authorization is off).
    fn authorizer(&self) -> crate::rbac::Rbac;
    /// The user behind a bearer token, if it is valid.
    fn authenticate_token(&self, token: &str) -> Option<User>;
}

/// One built-in kind. Only `facts` is required; every other hook defaults to what a kind
/// without rules of its own gets.
pub trait BuiltinKind: Sync {
    /// Names, scope and subresources.
    fn facts(&self) -> Facts;

    /// Defaults set only when the object is created (they need its uid, or make its first
    /// status).
    fn on_create(&self, _obj: &mut Value) {}

    /// Defaults set on every write.
    fn on_write(&self, _obj: &mut Value) {}

    /// The object's field errors.
    fn validate(&self, _obj: &Value) -> FieldErrors {
        Vec::new()
    }

    /// The field errors of an update: the fields upstream keeps immutable.
    fn validate_update(&self, _old: &Value, _new: &Value) -> FieldErrors {
        Vec::new()
    }

    /// Why `name` cannot name an object of this kind (a DNS subdomain unless overridden).
    fn invalid_name(&self, name: &str) -> Option<String> {
        crate::meta::invalid_name(name, false)
    }

    /// The `kubectl get` columns.
    fn columns(&self) -> Vec<Column> {
        table::named(Vec::new())
    }

    /// The protobuf messages this kind decodes: its own, and its subresources' requests.
    fn protobuf(&self) -> &'static [Protobuf] {
        &[]
    }

    /// What happens to dependents when a delete names no propagation policy.
    fn default_propagation(&self) -> &'static str {
        "Background"
    }

    /// Deleting always goes through a terminating state, finalizers or not: a controller
    /// removes the object once its contents are gone (namespaces).
    fn terminates(&self) -> bool {
        false
    }

    /// Adjusts an object as it is marked for deletion.
    fn on_marked_for_deletion(&self, _obj: &mut Value) {}

    /// Objects of this kind are namespaces: namespace selectors match them by their own labels.
    fn is_namespace(&self) -> bool {
        false
    }

    /// Objects of this kind define served resources (CRDs): the registry follows them.
    fn defines_resources(&self) -> bool {
        false
    }

    /// The stored object as this resource serves it.
    fn to_served(&self, stored: &Value) -> Value {
        stored.clone()
    }

    /// An object written through this resource as it is stored.
    fn to_storage(&self, served: Value) -> Value {
        served
    }

    /// Whether validating admission policies see writes of this kind.
    fn admitted(&self) -> bool {
        true
    }

    /// Answers the creation of a review (only review kinds are created this way).
    fn review(
        &self,
        _cluster: &dyn ReviewContext,
        _namespace: &str,
        _user: &User,
        _body: Value,
    ) -> ApiResult<Value> {
        Err(ApiError::method_not_allowed())
    }
}

impl std::fmt::Debug for dyn BuiltinKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let facts = self.facts();
        write!(f, "{}.{}", facts.plural, facts.group)
    }
}

/// Sets `obj[key]` unless it already has a non-null value.
pub fn set_default(obj: &mut Value, key: &str, value: Value) {
    if obj.get(key).is_none_or(Value::is_null) {
        obj[key] = value;
    }
}

/// `field: Invalid value: <value>: field is immutable`.
pub fn immutable(field: &str, value: &Value) -> (String, String) {
    (
        field.into(),
        format!("Invalid value: {value}: field is immutable"),
    )
}
