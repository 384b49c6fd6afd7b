//! `retry PLAN`: deletes the failed Jobs of a Failed plan. The operator then sees those units
//! of work without a Job, creates them again, and reruns only the failed work (batches already
//! recorded are not recomputed).

use anyhow::{Result, bail};
use clap::Args;
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use sluice_api::jobs::{JobState, delete_job, state_of};
use sluice_api::labels::{PLAN_ID_LABEL, label_value};
use sluice_api::{MODEL_LABEL, PLAN_LABEL, Plan, PlanPhase};

use super::client::{On, Session, get};

#[derive(Args, Debug)]
pub struct RetryArgs {
    /// The Failed Plan.
    pub plan: String,
}

/// The Jobs of the plan's current computation (the operator labels them with the plan and
/// the engine's plan id), by name.
pub async fn plan_jobs(api: &Api<Job>, plan: &Plan) -> kube::Result<Vec<Job>> {
    let mut selector = format!("{PLAN_LABEL}={}", label_value(&plan.name_any()));
    if let Some(id) = plan.status.as_ref().and_then(|s| s.plan_id.as_deref()) {
        selector.push_str(&format!(",{PLAN_ID_LABEL}={id}"));
    }
    let mut jobs = api
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    jobs.sort_by_key(|j| j.name_any());
    Ok(jobs)
}

/// The failed ones among them.
pub async fn failed_jobs(api: &Api<Job>, plan: &Plan) -> kube::Result<Vec<Job>> {
    Ok(plan_jobs(api, plan)
        .await?
        .into_iter()
        .filter(|j| matches!(state_of(j), JobState::Failed { .. }))
        .collect())
}

pub async fn run(s: &Session, args: &RetryArgs) -> Result<u8> {
    let plan: Plan = get(&s.api(), "plan", &s.namespace, &args.plan).await?;
    let phase = plan.status.as_ref().map(|st| st.phase).unwrap_or_default();
    if phase != PlanPhase::Failed {
        bail!(
            "plan {} is {phase:?}, not Failed: there is nothing to retry",
            args.plan
        );
    }
    let jobs: Api<Job> = s.api();
    let failed = failed_jobs(&jobs, &plan)
        .await
        .on(format!("Jobs of plan {}/{}", s.namespace, args.plan))?;
    if failed.is_empty() {
        bail!(
            "plan {} is Failed but has no failed Job left (already retried?): `kubectl sluice get plan {}` shows where it stands",
            args.plan,
            args.plan
        );
    }
    for job in &failed {
        delete_job(&jobs, &job.name_any()).await.on(format!(
            "deleting job {}/{}",
            s.namespace,
            job.name_any()
        ))?;
        println!(
            "deleted failed job {} (model {})",
            job.name_any(),
            job.annotations()
                .get(MODEL_LABEL)
                .map_or("?", String::as_str)
        );
    }
    // Return once the operator has taken the plan up again, so that `status --watch` right
    // after this follows the rerun rather than reading the old failure.
    let deadline = std::time::Instant::now() + RESUME_WAIT;
    loop {
        let now: Plan = get(&s.api(), "plan", &s.namespace, &args.plan).await?;
        let phase = now.status.as_ref().map(|st| st.phase).unwrap_or_default();
        if phase != PlanPhase::Failed {
            println!(
                "plan {} is {phase:?} again: kubectl sluice status plan/{} --watch",
                args.plan, args.plan
            );
            return Ok(0);
        }
        if std::time::Instant::now() >= deadline {
            println!(
                "the operator has not taken plan {} up again after {}s (is it running?); it reruns \
                 the failed work when it does: kubectl sluice status plan/{} --watch",
                args.plan,
                RESUME_WAIT.as_secs(),
                args.plan
            );
            return Ok(0);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// How long `retry` waits for the operator to take the plan up again.
const RESUME_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
