//! A backfill or run Job as both the operator and the kubectl plugin read it: how it stands,
//! what its exit codes mean, and deleting it with its pods.

use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DeleteParams, PropagationPolicy};

/// The exit code of `sluice job run` when a blocking audit failed: the data is wrong, and
/// building it again gives the same data, so the Job fails at once instead of retrying.
pub const EXIT_AUDIT_FAILED: i32 = 3;
/// The exit code of `sluice job run` when the warehouse could not be reached (EX_TEMPFAIL):
/// the operator starts the work again later instead of failing the plan.
pub const EXIT_WAREHOUSE_UNAVAILABLE: i32 = 75;

/// How a unit's Job stands.
#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    Pending,
    Running,
    Succeeded,
    Failed { job: String, reason: String },
}

/// The state a Job reports.
pub fn state_of(job: &Job) -> JobState {
    let name = job.metadata.name.clone().unwrap_or_default();
    let status = job.status.as_ref();
    let conditions = status.and_then(|s| s.conditions.as_ref());
    let has = |type_: &str| {
        conditions.is_some_and(|cs| cs.iter().any(|c| c.type_ == type_ && c.status == "True"))
    };
    if has("Complete") {
        return JobState::Succeeded;
    }
    if has("Failed") {
        let reason = conditions
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Failed"))
            .map(|c| {
                let reason = c.reason.clone().unwrap_or_default();
                match c.message.as_deref() {
                    Some(m) if !m.is_empty() => format!("{reason}: {m}"),
                    _ => reason,
                }
            })
            .unwrap_or_default();
        return JobState::Failed { job: name, reason };
    }
    JobState::Running
}

/// Deletes a Job and, in the background, its pods; one already gone is fine.
pub async fn delete_job(api: &Api<Job>, name: &str) -> kube::Result<()> {
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    };
    match api.delete(name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}
