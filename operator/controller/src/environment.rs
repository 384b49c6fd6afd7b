//! The Environment controller: claim the environment's name in its warehouse (two Environments
//! never own one name), show the release the warehouse says is live, keep the promoted state
//! fresh with scheduled runs, promote Ready plans itself where `promotion.auto` says so, and
//! expire ephemeral environments.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use sluice_api::conditions::{Conditions, now_rfc3339};
use sluice_api::environment::{
    EnvironmentStatus, MAX_RELEASE_MODELS, ReleaseAvailability, ReleaseModel, ReleaseStatus,
    RunStatus,
};
use sluice_api::jobs::{JobState, state_of};
use sluice_api::labels::{job_name, label_value};
use sluice_api::plan::{Plan, PlanPhase};
use sluice_api::promotion::{Promotion, PromotionPhase, PromotionSpec};
use sluice_api::{ENVIRONMENT_LABEL, Environment, RUN_LABEL};
use sluice_engine::intervals::parse_duration;
use sluice_warehouse::promote::drop_environment;
use sluice_warehouse::run::{next_due, store_run};
use sluice_warehouse::state::StateStore;

use super::context::{Context, WarehouseTarget};
use super::error::{Error, Result};
use super::frame::{Outcome, Reconcile};
use super::jobs::{self, JobRequest, Unit};
use super::plan::warehouse_name;

impl Reconcile for Environment {
    type Status = EnvironmentStatus;
    const KIND: &'static str = "Environment";
    const FINALIZER: Option<&'static str> = Some("sluice.dev/environment");

    fn status(&self) -> Option<&EnvironmentStatus> {
        self.status.as_ref()
    }

    fn step<'a>(
        &'a self,
        ctx: &'a Context,
        status: &'a mut EnvironmentStatus,
    ) -> BoxFuture<'a, Result<Outcome>> {
        Box::pin(async move { step(self, ctx, status).await.map(Outcome::from) })
    }

    fn summarize(status: &EnvironmentStatus, conditions: &mut Conditions, _: Option<&'static str>) {
        let message = match &status.release {
            Some(r) => format!("release {} is live", r.id),
            None => "no release yet: promote a plan into it".to_string(),
        };
        conditions.mark_ready("Ready", &message);
    }

    fn announce<'a>(
        &'a self,
        ctx: &'a Context,
        old: &'a EnvironmentStatus,
        new: &'a EnvironmentStatus,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if old.release.as_ref().map(|r| &r.id) != new.release.as_ref().map(|r| &r.id)
                && let Some(release) = &new.release
            {
                ctx.event(
                    self,
                    false,
                    "Released",
                    format!("release {} is live", release.id),
                )
                .await;
            }
        })
    }

    fn cleanup<'a>(&'a self, ctx: &'a Context) -> BoxFuture<'a, Result<Action>> {
        Box::pin(cleanup(self, ctx))
    }
}

/// Who owns the name in the warehouse: `<namespace>/<name>` of the Environment.
fn owner(env: &Environment) -> String {
    format!("{}/{}", env.namespace().unwrap_or_default(), env.name_any())
}

async fn step(env: &Environment, ctx: &Context, status: &mut EnvironmentStatus) -> Result<Action> {
    let namespace = env.namespace().unwrap_or_default();
    let name = warehouse_name(env)?;
    status.warehouse_name = Some(name.clone());
    let url = ctx
        .warehouse_target(&namespace, &env.spec.warehouse)
        .await?;
    let me = owner(env);
    let claim = name.clone();
    let (holder, record, release) = ctx
        .with_warehouse(&url, move |wh| {
            let mut state = StateStore::new(wh);
            state.init()?;
            let holder = state.claim_environment(&claim, &me)?;
            let record = state.environment(&claim)?;
            let release = match record.as_ref().and_then(|r| r.release_id.clone()) {
                Some(id) => state.release(&id)?,
                None => None,
            };
            Ok((holder, record, release))
        })
        .await?;
    if holder != owner(env) {
        return Err(Error::stalled(
            "NameConflict",
            format!(
                "environment {name} in this warehouse belongs to Environment {holder}; set \
                 spec.name to another name"
            ),
        ));
    }
    status.models = record.as_ref().map_or(0, |r| r.snapshots.len() as u32);
    status.release = release.as_ref().map(|r| release_status(ctx, r));
    if let Some(release) = &status.release {
        status.release = Some(ReleaseStatus {
            promotion: promotion_of(ctx, &namespace, release).await,
            ..release.clone()
        });
    }
    status.products = super::evidence::product_freshness(ctx, env, &url, &name, status).await?;
    // Tables go only with the janitor (which publishes this itself) or a new release: look
    // again when the live release is not the newest listed, not on every reconcile (at 10,000
    // models that is 20 release records and the catalog).
    let listed = status.releases.first().map(|r| r.id.as_str());
    if listed != status.release.as_ref().map(|r| r.id.as_str()) {
        status.releases = release_availability(ctx, &url, &name).await?;
    }
    if let Some(expired) = expiry(env, status, record.as_ref().map(|r| r.updated_at)) {
        return expired_now(env, ctx, expired).await;
    }
    auto_promote(env, ctx).await?;
    let next = schedule(env, ctx, status, &name, &url).await?;
    Ok(Action::requeue(next))
}

/// Releases listed in the status with whether they can be rolled back to.
const MAX_RELEASES_SHOWN: usize = 20;

/// The newest releases of warehouse environment `name`, and whether each can be rolled back to.
pub async fn release_availability(
    ctx: &Context,
    url: &WarehouseTarget,
    name: &str,
) -> Result<Vec<ReleaseAvailability>> {
    let env_name = name.to_string();
    let releases = ctx
        .with_warehouse(url, move |wh| {
            Ok(sluice_warehouse::janitor::restorable_releases(
                wh,
                &env_name,
                MAX_RELEASES_SHOWN,
            )?)
        })
        .await?;
    Ok(releases
        .into_iter()
        .map(|(id, verdict)| ReleaseAvailability {
            id,
            restorable: verdict.is_ok(),
            reason: verdict.err().unwrap_or_default(),
        })
        .collect())
}

fn release_status(_ctx: &Context, release: &sluice_engine::snapshot::Release) -> ReleaseStatus {
    ReleaseStatus {
        id: release.id.clone(),
        plan: None,
        promotion: None,
        promoted_at: chrono::DateTime::from_timestamp(release.created_at, 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default(),
        approved_by: release.approvals.iter().map(|a| a.user.clone()).collect(),
        digest: release.digest.clone(),
        models: release
            .snapshots
            .iter()
            .take(MAX_RELEASE_MODELS)
            .map(|s| ReleaseModel {
                name: s.name.clone(),
                kind: s.kind.clone(),
                version: s.version.clone(),
            })
            .collect(),
    }
}

/// The Promotion (of this namespace) that made a release, found by its uid.
async fn promotion_of(ctx: &Context, namespace: &str, release: &ReleaseStatus) -> Option<String> {
    let api: Api<Promotion> = Api::namespaced(ctx.client.clone(), namespace);
    let list = api.list(&ListParams::default()).await.ok()?;
    list.items
        .into_iter()
        .find(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.release.as_ref())
                .is_some_and(|r| r.id == release.id)
        })
        .map(|p| p.name_any())
}

/// For an ephemeral environment: when it expires (after `ttl` without a promotion), and
/// whether that is now.
fn expiry(
    env: &Environment,
    status: &mut EnvironmentStatus,
    updated_at: Option<i64>,
) -> Option<String> {
    let ttl = parse_duration(env.spec.ttl.as_deref()?).ok()?;
    let since = updated_at.unwrap_or_else(|| {
        env.meta()
            .creation_timestamp
            .as_ref()
            .map_or(0, |t| t.0.as_second())
    });
    let at = since + ttl;
    let rfc = chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    status.expires_at = Some(rfc.clone());
    (chrono::Utc::now().timestamp() >= at).then_some(rfc)
}

async fn expired_now(env: &Environment, ctx: &Context, at: String) -> Result<Action> {
    ctx.event(
        env,
        false,
        "Expired",
        format!("ttl reached at {at}: deleting the environment"),
    )
    .await;
    let api: Api<Environment> =
        Api::namespaced(ctx.client.clone(), &env.namespace().unwrap_or_default());
    api.delete(&env.name_any(), &DeleteParams::default())
        .await?;
    Ok(Action::await_change())
}

/// Creates a Promotion for every Ready Plan of an auto-promoting environment that has none.
async fn auto_promote(env: &Environment, ctx: &Context) -> Result<()> {
    if !env.spec.promotion.auto {
        return Ok(());
    }
    let namespace = env.namespace().unwrap_or_default();
    let plans: Api<Plan> = Api::namespaced(ctx.client.clone(), &namespace);
    let promotions: Api<Promotion> = Api::namespaced(ctx.client.clone(), &namespace);
    let existing = promotions.list(&ListParams::default()).await?;
    for plan in plans.list(&ListParams::default()).await?.items {
        let ready = plan
            .status
            .as_ref()
            .is_some_and(|s| s.phase == PlanPhase::Ready);
        let promoted = existing
            .items
            .iter()
            .any(|p| p.spec.plan.as_deref() == Some(plan.name_any().as_str()));
        if plan.spec.environment != env.name_any() || !ready || promoted {
            continue;
        }
        let owner = plan
            .controller_owner_ref(&())
            .ok_or(Error::Malformed("a Plan without a uid"))?;
        let promotion = Promotion {
            metadata: ObjectMeta {
                name: Some(format!("{}-auto", plan.name_any())),
                namespace: Some(namespace.clone()),
                owner_references: Some(vec![owner]),
                labels: Some(BTreeMap::from([(
                    "sluice.dev/auto".to_string(),
                    "true".to_string(),
                )])),
                // Admission requires the creator's own name here: the operator's.
                annotations: Some(BTreeMap::from([(
                    sluice_api::approval::CREATED_BY.to_string(),
                    ctx.identity.clone(),
                )])),
                ..Default::default()
            },
            spec: PromotionSpec {
                plan: Some(plan.name_any()),
                rollback: None,
            },
            status: None,
        };
        match promotions.create(&PostParams::default(), &promotion).await {
            Ok(_) => {
                ctx.event(
                    env,
                    false,
                    "AutoPromotion",
                    format!(
                        "created Promotion {}-auto for Ready plan {}",
                        plan.name_any(),
                        plan.name_any()
                    ),
                )
                .await
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Scheduled runs: continues the run in progress, or starts one when intervals became
/// complete. Returns when to look again.
async fn schedule(
    env: &Environment,
    ctx: &Context,
    status: &mut EnvironmentStatus,
    name: &str,
    url: &WarehouseTarget,
) -> Result<Duration> {
    let now = chrono::Utc::now().timestamp_millis();
    let env_name = name.to_string();
    let next = ctx
        .with_warehouse(url, move |wh| Ok(next_due(wh, &env_name, now)?))
        .await?;
    status.next_run = next
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let wait = next.map_or(Duration::from_secs(300), |ms| {
        Duration::from_millis((ms - now).clamp(1_000, 300_000) as u64)
    });
    if env.spec.schedule.suspend || status.release.is_none() {
        return Ok(wait);
    }
    let namespace = env.namespace().unwrap_or_default();
    let running = status
        .last_run
        .as_ref()
        .filter(|r| r.result == "Running")
        .map(|r| r.id.clone());
    if let Some(run_id) = running {
        return continue_run(env, ctx, status, url, &run_id).await;
    }
    if flipping(ctx, &namespace, &env.name_any()).await? {
        return Ok(Duration::from_secs(5));
    }
    let env_name = name.to_string();
    let stored = ctx
        .with_warehouse(url, move |wh| Ok(store_run(wh, &env_name, now)?))
        .await?;
    let Some((run_id, units)) = stored else {
        return Ok(wait);
    };
    status.last_run = Some(RunStatus {
        id: run_id.clone(),
        started_at: now_rfc3339(),
        finished_at: None,
        result: "Running".into(),
        models: units.len() as u32,
        message: String::new(),
    });
    ctx.event(
        env,
        false,
        "RunStarted",
        format!("{} model(s) have new intervals", units.len()),
    )
    .await;
    continue_run(env, ctx, status, url, &run_id).await
}

/// Whether a Promotion is flipping this environment right now (runs wait for it).
async fn flipping(ctx: &Context, namespace: &str, env: &str) -> Result<bool> {
    let api: Api<Promotion> = Api::namespaced(ctx.client.clone(), namespace);
    Ok(api
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .any(|p| {
            p.status.as_ref().is_some_and(|s| {
                s.phase == PromotionPhase::Promoting && s.environment.as_deref() == Some(env)
            })
        }))
}

async fn continue_run(
    env: &Environment,
    ctx: &Context,
    status: &mut EnvironmentStatus,
    url: &WarehouseTarget,
    run_id: &str,
) -> Result<Duration> {
    let namespace = env.namespace().unwrap_or_default();
    let id = run_id.to_string();
    let index = ctx
        .with_warehouse(url, move |wh| Ok(StateStore::new(wh).work_index(&id)?))
        .await?;
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    let selector = format!("{RUN_LABEL}={}", label_value(run_id));
    let existing = api
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    let units: Vec<Unit> = index
        .into_iter()
        .map(|(model, depends_on)| {
            let state = existing
                .iter()
                .find(|j| {
                    j.metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(sluice_api::MODEL_LABEL))
                        == Some(&model)
                })
                .map_or(JobState::Pending, state_of);
            Unit {
                model,
                depends_on,
                state,
            }
        })
        .collect();
    let progress = jobs::next_steps(
        &units,
        env.spec.concurrency.unwrap_or(ctx.settings.concurrency),
    );
    let run = status.last_run.get_or_insert_with(Default::default);
    if let Some((model, _, reason)) = progress.failed.first() {
        run.result = "Failed".into();
        run.finished_at = Some(now_rfc3339());
        run.message = format!("{model}: {reason}");
        ctx.event(env, true, "RunFailed", run.message.clone()).await;
        return Ok(Duration::from_secs(60));
    }
    if progress.done() {
        run.result = "Succeeded".into();
        run.finished_at = Some(now_rfc3339());
        // A scheduled run is activity: an ephemeral environment's ttl counts from it.
        if let Some(name) = status.warehouse_name.clone() {
            let now = chrono::Utc::now().timestamp();
            ctx.with_warehouse(url, move |wh| {
                Ok(StateStore::new(wh).touch_environment(&name, now)?)
            })
            .await?;
        }
        ctx.event(
            env,
            false,
            "RunSucceeded",
            format!("{} model(s) processed", progress.total),
        )
        .await;
        return Ok(Duration::from_secs(1));
    }
    let owner = env
        .controller_owner_ref(&())
        .ok_or(Error::Malformed("a Environment without a uid"))?;
    for model in &progress.start {
        let job = jobs::job_for(
            &ctx.settings,
            JobRequest {
                namespace: &namespace,
                name: job_name(&format!("{}-{}", env.name_any(), run_id), model),
                owner: owner.clone(),
                labels: [
                    (ENVIRONMENT_LABEL.to_string(), label_value(&env.name_any())),
                    (RUN_LABEL.to_string(), label_value(run_id)),
                ]
                .into(),
                plan_id: run_id,
                model,
                warehouse: &env.spec.warehouse,
                overrides: env.spec.jobs.as_ref(),
            },
        );
        match api.create(&PostParams::default(), &job).await {
            Ok(_) => {
                ctx.metrics.jobs_created.inc();
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Duration::from_secs(5))
}

/// A deleted Environment gives up its name; an ephemeral one (with a `ttl`) also has its views
/// and state dropped from the warehouse. A permanent environment's views stay: deleting the
/// object never takes production data away.
async fn cleanup(env: &Environment, ctx: &Context) -> Result<Action> {
    let namespace = env.namespace().unwrap_or_default();
    let Ok(name) = warehouse_name(env) else {
        return Ok(Action::await_change());
    };
    let url = match ctx.warehouse_target(&namespace, &env.spec.warehouse).await {
        Ok(url) => url,
        // Without its Secret there is nothing to clean up in: let the deletion finish.
        Err(e) if e.is_stalled() => return Ok(Action::await_change()),
        Err(e) => return Err(e),
    };
    let me = owner(env);
    let ephemeral = env.spec.ttl.is_some();
    ctx.with_warehouse(&url, move |wh| {
        let mut state = StateStore::new(wh);
        state.init()?;
        if state.claim_environment(&name, &me)? != me {
            return Ok(());
        }
        if ephemeral && let Some(record) = state.environment(&name)? {
            drop_environment(wh, &record)?;
        }
        StateStore::new(wh).release_environment_claim(&name, &me)?;
        Ok(())
    })
    .await?;
    Ok(Action::await_change())
}
