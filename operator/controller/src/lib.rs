//! `sluice operator`: the controllers for Environment, Plan and Promotion, sharing one context,
//! behind a leader-election Lease, with `/metrics`, `/healthz` and `/readyz` beside them.
//!
//! Every kind reconciles through one frame (`frame`: finalizer, status, conditions, Events).
//! Where things are decided: `promotion` (gather, decide, flip, publish; which approvals count
//! is `k8s::approval`), `admission` (whether approvals can be trusted at all), `plan`
//! (planning and backfill Jobs), `environment` (names, releases, runs, auto-promotion), `jobs`
//! (the Job a unit of work runs as), `source` (fetching a project).

pub mod admission;
pub mod context;
pub mod environment;
pub mod error;
pub mod evidence;
mod frame;
mod http;
pub mod janitor;
pub mod jobs;
pub mod metrics;
pub mod plan;
pub mod planning;
pub mod promotion;
pub mod source;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use context::{Context, Settings};
use error::Error;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use sluice_api::{Environment, Plan, Promotion};

/// How `sluice operator` was started.
#[derive(Debug, Clone)]
pub struct Options {
    pub settings: Settings,
    /// Namespaces to watch; empty: all.
    pub namespaces: Vec<String>,
    pub leader_elect: bool,
    pub lease_namespace: Option<String>,
    pub metrics_addr: SocketAddr,
    pub probe_addr: SocketAddr,
}

/// Runs the operator until it fails or loses its lease.
pub async fn run(options: Options) -> anyhow::Result<()> {
    let client = Client::try_default()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the Kubernetes API: {e}"))?;
    let metrics = Arc::new(metrics::Metrics::default());
    let health = Arc::new(http::Health::new(metrics.clone()));
    health.beat();
    http::serve(options.metrics_addr, health.clone()).await?;
    if options.probe_addr != options.metrics_addr {
        http::serve(options.probe_addr, health.clone()).await?;
    }
    check_crds(&client, &options.namespaces).await?;
    let identity = whoami(&client).await?;
    health.ready.store(true, Ordering::Relaxed);
    let ctx = Arc::new(Context::new(
        client.clone(),
        metrics,
        options.settings.clone(),
        identity,
    ));
    if !options.leader_elect {
        health.leading.store(true, Ordering::Relaxed);
        let result = controllers(ctx, &options.namespaces).await;
        health.stopped.store(true, Ordering::Relaxed);
        return result;
    }
    let lease_namespace = options
        .lease_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or_else(|| "default".into());
    let identity = std::env::var("POD_NAME").unwrap_or_else(|_| {
        format!(
            "{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "sluice".into()),
            std::process::id()
        )
    });
    let manager = kube_lease_manager::LeaseManagerBuilder::new(client, "sluice-operator")
        .with_namespace(&lease_namespace)
        .with_identity(&identity)
        .with_duration(15)
        .with_grace(5)
        .build()
        .await
        .map_err(|e| {
            anyhow::anyhow!("leader election (Lease {lease_namespace}/sluice-operator): {e}")
        })?;
    let (mut leading, _task) = manager.watch().await;
    tracing::info!(%identity, "waiting for the leader lease {lease_namespace}/sluice-operator");
    while !*leading.borrow_and_update() {
        leading
            .changed()
            .await
            .map_err(|_| anyhow::anyhow!("leader election stopped"))?;
    }
    tracing::info!(%identity, "leading");
    health.leading.store(true, Ordering::Relaxed);
    tokio::select! {
        result = controllers(ctx, &options.namespaces) => {
            health.stopped.store(true, Ordering::Relaxed);
            result
        }
        _ = async {
            while *leading.borrow_and_update() {
                if leading.changed().await.is_err() {
                    break;
                }
            }
        } => {
            // Another replica may act now: stop at once (the Deployment restarts us as standby).
            Err(anyhow::anyhow!("lost the leader lease; stopping so that only one replica acts"))
        }
    }
}

/// Fails with an install hint when the CRDs are missing.
async fn check_crds(client: &Client, namespaces: &[String]) -> anyhow::Result<()> {
    let probe = |kind: &'static str, result: Result<(), kube::Error>| match result {
        Ok(()) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(anyhow::anyhow!(
            "the {kind} CRD (sluice.dev/v1alpha1) is not installed: `kubectl apply -f crds/` \
             or install the Helm chart"
        )),
        Err(e) => Err(anyhow::anyhow!("checking the {kind} CRD: {e}")),
    };
    let params = kube::api::ListParams::default().limit(1);
    let ns = namespaces.first().map(String::as_str);
    probe(
        "Environment",
        api::<Environment>(client, ns)
            .list(&params)
            .await
            .map(|_| ()),
    )?;
    probe(
        "Plan",
        api::<Plan>(client, ns).list(&params).await.map(|_| ()),
    )?;
    probe(
        "Promotion",
        api::<Promotion>(client, ns).list(&params).await.map(|_| ()),
    )
}

/// Who the API server says the operator is (it signs what it creates with this name).
async fn whoami(client: &Client) -> anyhow::Result<String> {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    let reviews: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = reviews
        .create(&Default::default(), &SelfSubjectReview::default())
        .await
        .map_err(|e| anyhow::anyhow!("asking the API server who the operator is: {e}"))?;
    review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| anyhow::anyhow!("the API server did not say who the operator is"))
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The three controllers, for every watched namespace (or the whole cluster).
async fn controllers(ctx: Arc<Context>, namespaces: &[String]) -> anyhow::Result<()> {
    let scopes: Vec<Option<String>> = if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.iter().cloned().map(Some).collect()
    };
    let mut all = Vec::new();
    tokio::spawn(janitor::run(ctx.clone(), scopes.clone()));
    for scope in scopes {
        let ns = scope.as_deref();
        all.push(tokio::spawn(plan_controller(
            ctx.clone(),
            ns.map(str::to_string),
        )));
        all.push(tokio::spawn(promotion_controller(
            ctx.clone(),
            ns.map(str::to_string),
        )));
        all.push(tokio::spawn(environment_controller(
            ctx.clone(),
            ns.map(str::to_string),
        )));
    }
    for task in all {
        task.await?;
    }
    Err(anyhow::anyhow!("the controllers stopped"))
}

fn config() -> ControllerConfig {
    ControllerConfig::default().concurrency(4)
}

fn jobs_config() -> watcher::Config {
    watcher::Config::default().labels("app.kubernetes.io/managed-by=sluice")
}

async fn plan_controller(ctx: Arc<Context>, ns: Option<String>) {
    let client = ctx.client.clone();
    let controller = Controller::new(
        api::<Plan>(&client, ns.as_deref()),
        watcher::Config::default(),
    )
    .owns(api::<Job>(&client, ns.as_deref()), jobs_config())
    .with_config(config());
    // An Environment that moves (a new release) may make its plans stale: look at them again.
    let plans = controller.store();
    controller
        .watches(
            api::<Environment>(&client, ns.as_deref()),
            watcher::Config::default(),
            move |env| {
                plans
                    .state()
                    .into_iter()
                    .filter(|p| {
                        p.spec.environment == env.name_any() && p.namespace() == env.namespace()
                    })
                    .map(|p| ObjectRef::from_obj(p.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .run(
            reconciled(frame::reconcile::<Plan>),
            error_policy::<Plan>,
            ctx,
        )
        .for_each(log_result)
        .await;
}

async fn promotion_controller(ctx: Arc<Context>, ns: Option<String>) {
    let client = ctx.client.clone();
    let controller = Controller::new(
        api::<Promotion>(&client, ns.as_deref()),
        watcher::Config::default(),
    )
    .with_config(config());
    let promotions = controller.store();
    controller
        .watches(
            api::<Plan>(&client, ns.as_deref()),
            watcher::Config::default(),
            move |plan| {
                promotions
                    .state()
                    .into_iter()
                    .filter(|p| {
                        p.spec.plan.as_deref() == Some(plan.name_any().as_str())
                            && p.namespace() == plan.namespace()
                    })
                    .map(|p| ObjectRef::from_obj(p.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .run(
            reconciled(frame::reconcile::<Promotion>),
            error_policy::<Promotion>,
            ctx,
        )
        .for_each(log_result)
        .await;
}

async fn environment_controller(ctx: Arc<Context>, ns: Option<String>) {
    let client = ctx.client.clone();
    let to_env = |namespace: Option<String>, name: Option<String>| {
        name.map(|n| ObjectRef::<Environment>::new(&n).within(&namespace.unwrap_or_default()))
    };
    Controller::new(
        api::<Environment>(&client, ns.as_deref()),
        watcher::Config::default(),
    )
    .owns(api::<Job>(&client, ns.as_deref()), jobs_config())
    .watches(
        api::<Plan>(&client, ns.as_deref()),
        watcher::Config::default(),
        move |plan| to_env(plan.namespace(), Some(plan.spec.environment.clone())),
    )
    .watches(
        api::<Promotion>(&client, ns.as_deref()),
        watcher::Config::default(),
        move |p| {
            to_env(
                p.namespace(),
                p.status.as_ref().and_then(|s| s.environment.clone()),
            )
        },
    )
    .with_config(config())
    .run(
        reconciled(frame::reconcile::<Environment>),
        error_policy::<Environment>,
        ctx,
    )
    .for_each(log_result)
    .await;
}

/// Wraps a reconcile so a success resets the object's backoff.
fn reconciled<K, F, Fut>(
    f: F,
) -> impl Fn(Arc<K>, Arc<Context>) -> futures::future::BoxFuture<'static, Result<Action, Error>>
where
    K: Resource<DynamicType = ()> + Send + Sync + 'static,
    F: Fn(Arc<K>, Arc<Context>) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Action, Error>> + Send + 'static,
{
    move |object: Arc<K>, ctx: Arc<Context>| {
        let key = backoff_key(object.as_ref());
        Box::pin(async move {
            let result = f(object, ctx.clone()).await;
            if result.is_ok() {
                ctx.succeeded(&key);
            }
            result
        })
    }
}

fn backoff_key<K: Resource<DynamicType = ()>>(object: &K) -> String {
    format!(
        "{}/{}/{}",
        K::kind(&()),
        object.meta().namespace.as_deref().unwrap_or_default(),
        object.meta().name.as_deref().unwrap_or_default()
    )
}

/// Every failed reconcile is counted (`sluice_reconcile_errors_total`), also when it repeats.
/// Stalled objects are looked at again every 15 seconds (and whenever something they watch
/// changes: a missing Secret or ConfigMap is not watched); other errors back off
/// exponentially.
fn error_policy<K: Resource<DynamicType = ()>>(
    object: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    ctx.metrics.error(&K::kind(&()), error.reason());
    let failures = ctx.failed(&backoff_key(object.as_ref()));
    if error.is_stalled() {
        Action::requeue(Duration::from_secs(15))
    } else {
        Action::requeue(error::backoff(failures))
    }
}

async fn log_result<T: std::fmt::Debug, E: std::fmt::Display>(result: Result<T, E>) {
    match result {
        Ok(object) => tracing::debug!(?object, "reconciled"),
        Err(e) => tracing::warn!(error = %e, "reconcile failed"),
    }
}
