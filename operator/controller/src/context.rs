//! What every reconcile shares: the client, the event recorder, metrics, the operator's
//! settings, warehouse connections per URL, and per-object failure counts for backoff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sluice_api::environment::{SecretKeyRef, WarehouseSpec};
use sluice_warehouse::warehouse::{Warehouse, WarehouseError, connect_with_state};

use super::admission::AdmissionCheck;
use super::error::{Error, Result};
use super::metrics::Metrics;

/// The field manager the operator writes status with (server-side apply).
pub const MANAGER: &str = "sluice-operator";

/// Settings from `sluice operator`'s command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The image Jobs run (the operator's own).
    pub job_image: String,
    /// Retries of a failing Job before its Plan fails.
    pub backoff_limit: i32,
    /// Jobs of one Plan at once, unless the Environment says otherwise.
    pub concurrency: u32,
    /// Service account Job pods run as (they need no Kubernetes API access).
    pub job_service_account: Option<String>,
    /// Requests and limits of each Job's container, unless the Environment says otherwise.
    pub job_resources: Option<k8s_openapi::api::core::v1::ResourceRequirements>,
    /// A Job running longer is stopped (`activeDeadlineSeconds`), unless the Environment says
    /// otherwise.
    pub job_active_deadline_seconds: i64,
    /// What a Plan's git source may do (protocols, time, size).
    pub git: super::source::GitLimits,
    /// The approval policy's name (ValidatingAdmissionPolicy and binding).
    pub approval_policy: String,
    /// Count approvals even when the approval policy is missing (`--accept-unverified-approvals`).
    pub accept_unverified_approvals: bool,
    /// The scheduled janitor.
    pub janitor: JanitorSettings,
}

/// How the scheduled janitor runs (`--janitor-interval`, `--keep-releases`).
#[derive(Debug, Clone)]
pub struct JanitorSettings {
    /// `None`: never (run `sluice janitor` yourself).
    pub interval: Option<std::time::Duration>,
    /// Releases per environment whose tables stay restorable.
    pub keep_releases: usize,
    /// Tables of snapshots recorded this recently are spared (an apply may be building them).
    pub grace: std::time::Duration,
}

impl Default for JanitorSettings {
    fn default() -> Self {
        JanitorSettings {
            interval: Some(std::time::Duration::from_secs(3600)),
            keep_releases: 5,
            grace: std::time::Duration::from_secs(3600),
        }
    }
}

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
    pub warehouses: Arc<WarehousePool>,
    /// Whether approvals can be trusted (the approval policy is installed and binding).
    pub admission: AdmissionCheck,
    /// Who the operator is to the API server (`sluice.dev/created-by` of what it creates).
    pub identity: String,
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(
        client: Client,
        metrics: Arc<Metrics>,
        settings: Settings,
        identity: String,
    ) -> Context {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            admission: AdmissionCheck::new(
                settings.approval_policy.clone(),
                settings.accept_unverified_approvals,
            ),
            identity,
            client,
            metrics,
            settings,
            warehouses: Arc::new(WarehousePool::default()),
            failures: Mutex::default(),
        }
    }

    /// Counts a failed reconcile of `key`; returns how many in a row.
    pub fn failed(&self, key: &str) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(key.to_string()).or_default();
        *n += 1;
        *n
    }

    pub fn succeeded(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Publishes an Event about `object` (events.k8s.io); a failure to publish is logged only.
    pub async fn event<K>(&self, object: &K, warning: bool, reason: &str, note: String)
    where
        K: Resource<DynamicType = ()>,
    {
        let event = Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.into(),
            note: Some(note),
            action: reason.into(),
            secondary: None,
        };
        let reference: ObjectReference = object.object_ref(&());
        if let Err(e) = self.recorder.publish(&event, &reference).await {
            tracing::warn!(error = %e, reason, "could not publish an event");
        }
    }

    /// An Environment's warehouse: the URL in its Secret, and the state's URL when the state
    /// is kept apart (`stateSecretRef`).
    pub async fn warehouse_target(
        &self,
        namespace: &str,
        spec: &WarehouseSpec,
    ) -> Result<WarehouseTarget> {
        let url = self.warehouse_url(namespace, &spec.secret_ref).await?;
        let state = match &spec.state_secret_ref {
            Some(secret) => {
                let state = self.warehouse_url(namespace, secret).await?;
                if !(state.starts_with("postgres://") || state.starts_with("postgresql://")) {
                    return Err(Error::stalled(
                        "InvalidWarehouseUrl",
                        format!(
                            "Secret {namespace}/{} key {:?} (the state connection) is not a \
                             PostgreSQL URL",
                            secret.name, secret.key
                        ),
                    ));
                }
                Some(state)
            }
            None => None,
        };
        Ok(WarehouseTarget { url, state })
    }

    /// The warehouse URL in an Environment's Secret.
    async fn warehouse_url(&self, namespace: &str, secret: &SecretKeyRef) -> Result<String> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let found = api.get_opt(&secret.name).await?.ok_or_else(|| {
            Error::stalled(
                "SecretNotFound",
                format!(
                    "Secret {namespace}/{} (the warehouse URL) does not exist",
                    secret.name
                ),
            )
        })?;
        let value = found
            .data
            .as_ref()
            .and_then(|d| d.get(&secret.key))
            .map(|v| String::from_utf8_lossy(&v.0).trim().to_string())
            .or_else(|| {
                found
                    .string_data
                    .as_ref()
                    .and_then(|d| d.get(&secret.key))
                    .map(|v| v.trim().to_string())
            })
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                Error::stalled(
                    "SecretKeyNotFound",
                    format!(
                        "Secret {namespace}/{} has no key {:?} with the warehouse URL",
                        secret.name, secret.key
                    ),
                )
            })?;
        if !(value.starts_with("postgres://")
            || value.starts_with("postgresql://")
            || value.starts_with("duckdb:")
            || value.starts_with("sc://"))
        {
            return Err(Error::stalled(
                "InvalidWarehouseUrl",
                format!(
                    "Secret {namespace}/{} key {:?} is not a warehouse URL (expected \
                     postgres://USER:PASSWORD@HOST:PORT/DB, sc://HOST:PORT or duckdb:PATH)",
                    secret.name, secret.key
                ),
            ));
        }
        Ok(value)
    }

    /// Runs engine work on a blocking thread with a pooled connection to `url`.
    pub async fn with_warehouse<T, F>(&self, url: &WarehouseTarget, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Warehouse) -> anyhow::Result<T> + Send + 'static,
    {
        let pool = self.warehouses.clone();
        let url = url.clone();
        tokio::task::spawn_blocking(move || pool.run(&url, work)).await?
    }
}

/// Where an Environment's warehouse is: its URL, and its state's when kept apart. Shown as
/// the warehouse's URL.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WarehouseTarget {
    pub url: String,
    pub state: Option<String>,
}

impl std::fmt::Display for WarehouseTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

/// Idle warehouse connections per URL. A connection that failed is dropped, not reused.
#[derive(Default)]
pub struct WarehousePool {
    idle: Mutex<HashMap<WarehouseTarget, Vec<Box<dyn Warehouse>>>>,
}

/// Idle connections kept per URL.
const IDLE_PER_URL: usize = 4;

impl WarehousePool {
    fn run<T>(
        &self,
        target: &WarehouseTarget,
        work: impl FnOnce(&mut dyn Warehouse) -> anyhow::Result<T>,
    ) -> Result<T> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(target)
            .and_then(Vec::pop);
        let url = target.url.as_str();
        let mut warehouse = match pooled {
            Some(w) => w,
            None => connect_with_state(url, target.state.as_deref()).map_err(|e| match e {
                WarehouseError::Url { .. } => Error::stalled("InvalidWarehouseUrl", e.to_string()),
                other => Error::from(other),
            })?,
        };
        let result = work(warehouse.as_mut());
        match result {
            // A DuckDB file admits one process at a time: Jobs must be able to open it, so its
            // connection is not kept.
            Ok(value) if url.starts_with("duckdb:") => Ok(value),
            Ok(value) => {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                let list = idle.entry(target.clone()).or_default();
                if list.len() < IDLE_PER_URL {
                    list.push(warehouse);
                }
                Ok(value)
            }
            Err(e) => {
                // Leave no half-finished transaction behind on a connection we drop anyway.
                let _ = warehouse.rollback();
                Err(Error::from(e))
            }
        }
    }
}

/// Creates or updates a ConfigMap the operator owns (server-side apply, its field manager);
/// returns its name.
pub async fn apply_config_map(
    client: &Client,
    config_map: &k8s_openapi::api::core::v1::ConfigMap,
) -> Result<String> {
    let name = config_map.name_any();
    let api: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(client.clone(), &config_map.namespace().unwrap_or_default());
    api.patch(
        &name,
        &kube::api::PatchParams::apply(MANAGER).force(),
        &kube::api::Patch::Apply(config_map),
    )
    .await?;
    Ok(name)
}

/// Writes `status` of `object` with server-side apply, as the operator's field manager.
pub async fn apply_status<K, S>(client: &Client, object: &K, status: &S) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    S: Serialize,
{
    apply_status_with(client, object, status, None).await
}

/// [`apply_status`] only if `object` is still at its resourceVersion (a conflict otherwise).
/// Always server-side apply: a status written once with an update (PUT) would leave that
/// write's fields behind in a condition a later apply drops, a condition without `status`.
pub async fn apply_status_if_unchanged<K, S>(client: &Client, object: &K, status: &S) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    S: Serialize,
{
    let version = object.meta().resource_version.clone();
    apply_status_with(client, object, status, version).await
}

async fn apply_status_with<K, S>(
    client: &Client,
    object: &K,
    status: &S,
    resource_version: Option<String>,
) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    S: Serialize,
{
    let api: Api<K> = Api::namespaced(client.clone(), &object.namespace().unwrap_or_default());
    let mut patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    if let Some(version) = resource_version {
        patch["metadata"] = serde_json::json!({
            "name": object.name_any(),
            "resourceVersion": version,
        });
    }
    api.patch_status(
        &object.name_any(),
        &kube::api::PatchParams::apply(MANAGER).force(),
        &kube::api::Patch::Apply(patch),
    )
    .await?;
    Ok(())
}
