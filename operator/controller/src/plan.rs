//! The Plan controller: compute the plan (re-plan when the environment moved), run its units of
//! work as Jobs in dependency order, and mark it Ready when every batch is built and audited.
//! It alone writes Plan status, from what it sees in the cluster and the warehouse: a Plan is
//! Promoted when the environment's record says its plan is live.

use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use sluice_api::conditions::{Conditions, now_rfc3339};
use sluice_api::jobs::{JobState, state_of};
use sluice_api::labels::{PLAN_ID_LABEL, job_name, label_value};
use sluice_api::plan::{BackfillStatus, FailureStatus, Plan, PlanPhase, PlanStatus};
use sluice_api::{Environment, PLAN_LABEL};
use sluice_engine::snapshot::environment_name;
use sluice_warehouse::promote::PromoteError;
use sluice_warehouse::state::StateStore;

use super::context::{Context, WarehouseTarget, apply_status};
use super::error::{Error, Result};
use super::frame::{Outcome, Reconcile};
use super::jobs::{self, JobRequest, Unit};
use super::planning::{self, based_on};

impl Reconcile for Plan {
    type Status = PlanStatus;
    const KIND: &'static str = "Plan";
    const FINALIZER: Option<&'static str> = Some("sluice.dev/plan");

    fn status(&self) -> Option<&PlanStatus> {
        self.status.as_ref()
    }

    fn step<'a>(
        &'a self,
        ctx: &'a Context,
        status: &'a mut PlanStatus,
    ) -> BoxFuture<'a, Result<Outcome>> {
        Box::pin(async move {
            if status.policy_missing_at.is_none() {
                // Seen while the approval policy is missing: its creator may be forged.
                let namespace = self.namespace().unwrap_or_default();
                let trust = ctx.admission.check(&ctx.client, &namespace, false).await;
                if trust.distrust().is_some() {
                    status.policy_missing_at = Some(now_rfc3339());
                }
            }
            step(self, ctx, status).await.map(Outcome::from)
        })
    }

    fn summarize(status: &PlanStatus, conditions: &mut Conditions, _: Option<&'static str>) {
        set_conditions(conditions, status)
    }

    fn announce<'a>(
        &'a self,
        ctx: &'a Context,
        old: &'a PlanStatus,
        new: &'a PlanStatus,
    ) -> BoxFuture<'a, ()> {
        Box::pin(announce(self, ctx, old, new))
    }

    fn cleanup<'a>(&'a self, ctx: &'a Context) -> BoxFuture<'a, Result<Action>> {
        Box::pin(cleanup(self, ctx))
    }
}

/// Ready, Reconciling and the detail conditions (Planned, Backfilled, Audited) per phase.
fn set_conditions(c: &mut Conditions, status: &PlanStatus) {
    let planned = status.plan_id.is_some();
    c.set(
        "Planned",
        planned,
        if planned { "Planned" } else { "Planning" },
        "",
    );
    match status.phase {
        PlanPhase::Pending | PlanPhase::Planning => {
            c.mark_reconciling("Planning", "computing the plan")
        }
        PlanPhase::Backfilling => {
            let progress = status
                .backfill
                .as_ref()
                .map_or(String::new(), |b| b.progress.clone());
            c.set(
                "Backfilled",
                false,
                "Backfilling",
                &format!("{progress} units done"),
            );
            c.mark_reconciling(
                "Backfilling",
                &format!("backfilling: {progress} units done"),
            );
        }
        PlanPhase::Ready | PlanPhase::Promoted => {
            c.set("Backfilled", true, "Backfilled", "every batch is built");
            c.set(
                "Audited",
                true,
                "AuditsPassed",
                "every blocking audit passed",
            );
            let message = match status.phase {
                PlanPhase::Promoted => "promoted",
                _ => "ready to promote",
            };
            c.mark_ready(
                if status.phase == PlanPhase::Promoted {
                    "Promoted"
                } else {
                    "Ready"
                },
                message,
            );
        }
        PlanPhase::Failed => {
            let failure = status.failure.as_ref();
            let reason = failure.map_or("Failed".to_string(), |f| f.reason.clone());
            let message = failure.map_or(String::new(), |f| {
                format!(
                    "{}{}",
                    f.model
                        .as_deref()
                        .map(|m| format!("{m}: "))
                        .unwrap_or_default(),
                    f.reason
                )
            });
            let audit = reason.contains("audit");
            c.set("Backfilled", false, "JobFailed", &message);
            if audit {
                c.set("Audited", false, "AuditFailed", &message);
            }
            // Stalled, not merely not Ready: kstatus tools (Flux, cli-utils) then see a failure
            // that needs someone (`kubectl sluice retry`), not a finished object.
            c.mark_stalled(if audit { "AuditFailed" } else { "JobFailed" }, &message);
        }
        PlanPhase::Superseded => c.mark_failed("Superseded", "superseded"),
    }
}

async fn step(plan: &Plan, ctx: &Context, status: &mut PlanStatus) -> Result<Action> {
    if status.phase.is_terminal() {
        return Ok(Action::await_change());
    }
    let namespace = plan.namespace().unwrap_or_default();
    let environments: Api<Environment> = Api::namespaced(ctx.client.clone(), &namespace);
    let env = environments
        .get_opt(&plan.spec.environment)
        .await?
        .ok_or_else(|| {
            Error::stalled(
                "EnvironmentNotFound",
                format!(
                    "Environment {namespace}/{} (spec.environment) does not exist",
                    plan.spec.environment
                ),
            )
        })?;
    let env_name = warehouse_name(&env)?;
    if let Some(stalled) = env.status.as_ref().and_then(|s| {
        s.conditions
            .iter()
            .find(|c| c.type_ == "Stalled" && c.status == "True")
    }) {
        return Err(Error::stalled(
            "EnvironmentNotReady",
            format!("Environment {}: {}", env.name_any(), stalled.message),
        ));
    }
    let url = ctx
        .warehouse_target(&namespace, &env.spec.warehouse)
        .await?;
    let name = env_name.clone();
    let (current, live_plan) = ctx
        .with_warehouse(&url, move |wh| based_on(wh, &name))
        .await?;
    if status.plan_id.is_some() && live_plan.as_deref() == status.plan_id.as_deref() {
        status.phase = PlanPhase::Promoted;
        return Ok(Action::await_change());
    }
    if status.plan_id.is_none() || status.based_on.as_ref() != Some(&current) {
        if status.plan_id.is_some() {
            status.warnings = vec![format!(
                "re-planned: environment {env_name} moved to {} since the plan was computed",
                current.release.as_deref().unwrap_or("a new state")
            )];
        }
        return replan(plan, ctx, status, &env_name, &url).await;
    }
    backfill(plan, ctx, &env, status, &url).await
}

/// The environment's name in the warehouse.
pub fn warehouse_name(env: &Environment) -> Result<String> {
    let name = env.spec.name.clone().unwrap_or_else(|| env.name_any());
    environment_name(&name).map_err(|e| Error::stalled("InvalidEnvironmentName", e.to_string()))
}

async fn replan(
    plan: &Plan,
    ctx: &Context,
    status: &mut PlanStatus,
    env_name: &str,
    url: &WarehouseTarget,
) -> Result<Action> {
    if status.phase != PlanPhase::Planning {
        status.phase = PlanPhase::Planning;
        let mut shown = status.clone();
        let mut c = Conditions::new(&shown.conditions, plan.meta().generation, &now_rfc3339());
        c.mark_reconciling("Planning", "computing the plan");
        shown.conditions = c.list;
        apply_status(&ctx.client, plan, &shown).await?;
    }
    let computed = planning::compute(ctx, plan, env_name, url).await?;
    sluice_warehouse::promote::failpoint("operator-after-plan");
    let engine_plan = &computed.plan;
    let old_id = status.plan_id.replace(engine_plan.basis.id.clone());
    if let Some(old) = old_id.filter(|old| *old != engine_plan.basis.id) {
        delete_jobs(ctx, plan, Some(&old)).await?;
    }
    status.digest = Some(engine_plan.basis.digest.clone());
    status.based_on = Some(computed.based_on);
    status.source = Some(computed.source);
    status.summary = Some(planning::summary(engine_plan));
    status.changes = planning::changes(engine_plan);
    status.impact = super::evidence::impact_status(engine_plan);
    status.warnings.extend(engine_plan.warnings.iter().cloned());
    status.planned_at = Some(now_rfc3339());
    status.unit_tests = Some(computed.unit_tests.clone());
    status.failure = None;
    status.plan_config_map = Some(planning::write_config_map(ctx, plan, engine_plan).await?);
    status.phase = PlanPhase::Backfilling;
    status.backfill = None;
    Ok(Action::requeue(Duration::from_millis(200)))
}

/// Starts the Jobs whose turn it is, and moves the plan to Ready or Failed when they are done.
async fn backfill(
    plan: &Plan,
    ctx: &Context,
    env: &Environment,
    status: &mut PlanStatus,
    url: &WarehouseTarget,
) -> Result<Action> {
    let plan_id = status.plan_id.clone().unwrap_or_default();
    let namespace = plan.namespace().unwrap_or_default();
    let id = plan_id.clone();
    let index = ctx
        .with_warehouse(url, move |wh| Ok(StateStore::new(wh).work_index(&id)?))
        .await?;
    let jobs = list_jobs(ctx, plan, Some(&plan_id)).await?;
    let units: Vec<Unit> = index
        .into_iter()
        .map(|(model, depends_on)| {
            let state = jobs
                .iter()
                .find(|j| model_of(j) == Some(model.as_str()))
                .map_or(JobState::Pending, state_of);
            Unit {
                model,
                depends_on,
                state,
            }
        })
        .collect();
    let concurrency = env.spec.concurrency.unwrap_or(ctx.settings.concurrency);
    let progress = jobs::next_steps(&units, concurrency);
    if let Some((model, job, reason)) = progress.failed.first() {
        let last = jobs::last_pod(&ctx.client, &namespace, job).await;
        let log_tail = last.log_tail;
        // A Job that failed because the warehouse was away (`sluice job run` says so with its
        // exit code) is not the model's fault: run it again (with the controller's backoff)
        // instead of failing the plan.
        if last.exit_code == Some(sluice_api::jobs::EXIT_WAREHOUSE_UNAVAILABLE) {
            delete_job(ctx, plan, job).await?;
            return Err(Error::WarehouseUnavailable(format!(
                "the Job of {model} could not reach the warehouse and is started again: {}",
                log_tail
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or_default()
            )));
        }
        status.phase = PlanPhase::Failed;
        status.failure = Some(FailureStatus {
            model: Some(model.clone()),
            job: Some(job.clone()),
            reason: failure_reason(reason, &log_tail),
            log_tail,
        });
        status.backfill = Some(counts(&progress, 0));
        return Ok(Action::requeue(Duration::from_secs(60)));
    }
    status.failure = None;
    for model in &progress.start {
        create_job(ctx, plan, env, &plan_id, model).await?;
    }
    status.backfill = Some(counts(&progress, progress.start.len() as u32));
    if !progress.done() {
        status.phase = PlanPhase::Backfilling;
        return Ok(Action::requeue(Duration::from_secs(10)));
    }
    let id = plan_id.clone();
    let checked = ctx
        .with_warehouse(url, move |wh| {
            Ok(sluice_warehouse::promote::check_plan(wh, &id).map(|_| ()))
        })
        .await?;
    match checked {
        Ok(()) => {}
        Err(e @ PromoteError::Incomplete { .. }) => {
            return Err(Error::stalled("Incomplete", e.to_string()));
        }
        Err(e) => return Err(e.into()),
    }
    status.phase = PlanPhase::Ready;
    Ok(Action::requeue(Duration::from_secs(60)))
}

/// A failed Job's reason, sharpened by its log: a blocking audit failure says so.
fn failure_reason(job_reason: &str, log: &str) -> String {
    match log
        .lines()
        .rev()
        .find(|l| l.contains("blocking audit failed"))
    {
        Some(line) => format!(
            "{}: {}",
            line.trim().trim_start_matches("error: "),
            job_reason
        ),
        None => job_reason.to_string(),
    }
}

fn counts(progress: &jobs::Progress, started: u32) -> BackfillStatus {
    BackfillStatus {
        total: progress.total,
        succeeded: progress.succeeded,
        failed: progress.failed.len() as u32,
        running: progress.running + started,
        pending: progress.pending - started,
        progress: format!("{}/{}", progress.succeeded, progress.total),
    }
}

fn model_of(job: &Job) -> Option<&str> {
    job.metadata
        .annotations
        .as_ref()?
        .get(sluice_api::MODEL_LABEL)
        .map(String::as_str)
}

async fn list_jobs(ctx: &Context, plan: &Plan, plan_id: Option<&str>) -> Result<Vec<Job>> {
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), &plan.namespace().unwrap_or_default());
    let mut selector = format!("{PLAN_LABEL}={}", label_value(&plan.name_any()));
    if let Some(id) = plan_id {
        selector.push_str(&format!(",{PLAN_ID_LABEL}={id}"));
    }
    let list = api.list(&ListParams::default().labels(&selector)).await?;
    Ok(list
        .items
        .into_iter()
        .filter(|j| {
            j.owner_references()
                .iter()
                .any(|o| Some(&o.uid) == plan.meta().uid.as_ref())
        })
        .collect())
}

async fn create_job(
    ctx: &Context,
    plan: &Plan,
    env: &Environment,
    plan_id: &str,
    model: &str,
) -> Result<()> {
    let namespace = plan.namespace().unwrap_or_default();
    let owner = plan
        .controller_owner_ref(&())
        .ok_or(Error::Malformed("a Plan without a uid"))?;
    let labels = [
        (PLAN_LABEL.to_string(), label_value(&plan.name_any())),
        (PLAN_ID_LABEL.to_string(), plan_id.to_string()),
    ]
    .into();
    let job = jobs::job_for(
        &ctx.settings,
        JobRequest {
            namespace: &namespace,
            name: job_name(
                &format!("{}-{}", plan.name_any(), &plan_id[..6.min(plan_id.len())]),
                model,
            ),
            owner,
            labels,
            plan_id,
            model,
            warehouse: &env.spec.warehouse,
            overrides: env.spec.jobs.as_ref(),
        },
    );
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), &namespace);
    match api.create(&PostParams::default(), &job).await {
        Ok(_) => {
            ctx.metrics.jobs_created.inc();
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Deletes one Job, with its pods.
async fn delete_job(ctx: &Context, plan: &Plan, name: &str) -> Result<()> {
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), &plan.namespace().unwrap_or_default());
    Ok(sluice_api::jobs::delete_job(&api, name).await?)
}

/// Deletes the Plan's Jobs (of one engine plan, or all), with their pods.
async fn delete_jobs(ctx: &Context, plan: &Plan, plan_id: Option<&str>) -> Result<()> {
    for job in list_jobs(ctx, plan, plan_id).await? {
        delete_job(ctx, plan, &job.name_any()).await?;
    }
    Ok(())
}

/// A deleted Plan: its Jobs go (with their pods), and its registration in the warehouse is
/// finished so the janitor may reclaim tables nothing else uses. An unreachable warehouse does
/// not hold the deletion up.
async fn cleanup(plan: &Plan, ctx: &Context) -> Result<Action> {
    delete_jobs(ctx, plan, None).await?;
    let Some(plan_id) = plan.status.as_ref().and_then(|s| s.plan_id.clone()) else {
        return Ok(Action::await_change());
    };
    let namespace = plan.namespace().unwrap_or_default();
    let environments: Api<Environment> = Api::namespaced(ctx.client.clone(), &namespace);
    if let Ok(Some(env)) = environments.get_opt(&plan.spec.environment).await
        && let Ok(url) = ctx.warehouse_target(&namespace, &env.spec.warehouse).await
    {
        let finished = ctx
            .with_warehouse(&url, move |wh| {
                Ok(StateStore::new(wh).finish_plan(&plan_id, chrono::Utc::now().timestamp())?)
            })
            .await;
        if let Err(e) = finished {
            tracing::warn!(plan = %plan.name_any(), error = %e, "could not finish the plan's registration");
        }
    }
    Ok(Action::await_change())
}

/// Events on every phase change, and on errors.
async fn announce(plan: &Plan, ctx: &Context, old: &PlanStatus, new: &PlanStatus) {
    if old.phase == new.phase && old.plan_id == new.plan_id {
        return;
    }
    let note = match new.phase {
        PlanPhase::Planning => "computing the plan".to_string(),
        PlanPhase::Backfilling => format!(
            "planned {} ({} change(s), {} batch(es) to build)",
            new.digest
                .as_deref()
                .map(sluice_api::approval::abbreviate)
                .unwrap_or_default(),
            new.summary.as_ref().map_or(0, |s| s.changes),
            new.summary.as_ref().map_or(0, |s| s.intervals)
        ),
        PlanPhase::Ready => "every batch is built and audited: ready to promote".into(),
        PlanPhase::Failed => new
            .failure
            .as_ref()
            .map(|f| format!("{}: {}", f.model.as_deref().unwrap_or("?"), f.reason))
            .unwrap_or_default(),
        PlanPhase::Promoted => "promoted".into(),
        other => format!("{other:?}"),
    };
    let warning = new.phase == PlanPhase::Failed;
    ctx.event(plan, warning, &format!("{:?}", new.phase), note)
        .await;
}
