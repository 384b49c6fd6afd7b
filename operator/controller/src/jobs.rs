//! Units of work as `batch/v1` Jobs: naming, the Job each unit runs as, and which units to
//! start next (dependency order, a concurrency limit). The warehouse URL reaches a Job only
//! through a `secretKeyRef`, never in its spec.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, Pod, PodSecurityContext,
    PodSpec, PodTemplateSpec, SeccompProfile, SecretKeySelector, SecurityContext, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, ListParams, LogParams};
use sluice_api::environment::{JobsSpec, SecretKeyRef, WarehouseSpec};
use sluice_api::jobs::JobState;
use sluice_api::labels::label_value;
use sluice_api::{MANAGED_BY, MODEL_LABEL};

use super::context::Settings;

/// A unit of work and its Job's state.
#[derive(Debug, Clone)]
pub struct Unit {
    pub model: String,
    pub depends_on: Vec<String>,
    pub state: JobState,
}

/// What to do next for a set of units.
#[derive(Debug, Default, PartialEq)]
pub struct Progress {
    pub total: u32,
    pub succeeded: u32,
    pub running: u32,
    pub pending: u32,
    /// Units whose Job failed for good: (model, job name, reason).
    pub failed: Vec<(String, String, String)>,
    /// Units to start now: every dependency succeeded, within the concurrency limit.
    pub start: Vec<String>,
}

impl Progress {
    pub fn done(&self) -> bool {
        self.succeeded == self.total
    }
}

/// Decides which units start now. Nothing new starts once a unit failed: the plan stops there
/// (its failure is the thing to look at), and Jobs already running finish.
pub fn next_steps(units: &[Unit], concurrency: u32) -> Progress {
    let succeeded: HashMap<&str, bool> = units
        .iter()
        .map(|u| (u.model.as_str(), u.state == JobState::Succeeded))
        .collect();
    let mut progress = Progress {
        total: units.len() as u32,
        ..Default::default()
    };
    for unit in units {
        match &unit.state {
            JobState::Succeeded => progress.succeeded += 1,
            JobState::Running => progress.running += 1,
            JobState::Pending => progress.pending += 1,
            JobState::Failed { job, reason } => {
                progress
                    .failed
                    .push((unit.model.clone(), job.clone(), reason.clone()))
            }
        }
    }
    if !progress.failed.is_empty() {
        return progress;
    }
    let mut free = concurrency.saturating_sub(progress.running);
    for unit in units {
        if free == 0 {
            break;
        }
        let ready = unit
            .depends_on
            .iter()
            .all(|d| succeeded.get(d.as_str()).copied().unwrap_or(true));
        if unit.state == JobState::Pending && ready {
            progress.start.push(unit.model.clone());
            free -= 1;
        }
    }
    progress
}

/// What a Job is for.
pub struct JobRequest<'a> {
    pub namespace: &'a str,
    pub name: String,
    pub owner: OwnerReference,
    /// Labels naming the owner (`sluice.dev/plan` or `sluice.dev/environment` + `run`).
    pub labels: BTreeMap<String, String>,
    /// The stored plan (or run) the unit belongs to, and its model.
    pub plan_id: &'a str,
    pub model: &'a str,
    /// The Environment's warehouse: its URL's Secret, and the state's when kept apart.
    pub warehouse: &'a WarehouseSpec,
    /// The Environment's own resources and deadline, if it sets them.
    pub overrides: Option<&'a JobsSpec>,
}

/// A Job's environment: the warehouse URL (and the state's, when kept apart) from the
/// Environment's Secrets, never in the spec.
fn job_env(warehouse: &WarehouseSpec) -> Vec<EnvVar> {
    [
        Some(secret_env("SLUICE_WAREHOUSE", &warehouse.secret_ref)),
        warehouse
            .state_secret_ref
            .as_ref()
            .map(|secret| secret_env("SLUICE_STATE", secret)),
        Some(EnvVar {
            name: "TMPDIR".into(),
            value: Some("/tmp".into()),
            ..Default::default()
        }),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// An environment variable read from a Secret key.
fn secret_env(name: &str, secret: &SecretKeyRef) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.name.clone(),
                key: secret.key.clone(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The Job that runs one unit: the operator's image, `sluice job run --plan ID --model M`.
pub fn job_for(settings: &Settings, request: JobRequest) -> Job {
    let resources = request
        .overrides
        .and_then(|o| o.resources.clone())
        .or_else(|| settings.job_resources.clone());
    let deadline = request
        .overrides
        .and_then(|o| o.active_deadline_seconds)
        .unwrap_or(settings.job_active_deadline_seconds);
    let mut labels = request.labels;
    labels.insert(MODEL_LABEL.into(), label_value(request.model));
    labels.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    let mut annotations = BTreeMap::new();
    annotations.insert(MODEL_LABEL.to_string(), request.model.to_string());
    let container = Container {
        name: "sluice".into(),
        image: Some(settings.job_image.clone()),
        args: Some(vec![
            "job".into(),
            "run".into(),
            "--plan".into(),
            request.plan_id.into(),
            "--model".into(),
            request.model.into(),
        ]),
        env: Some(job_env(request.warehouse)),
        // Pod Security "restricted": non-root, no privileges, read-only root, scratch in /tmp.
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..Default::default()
        }]),
        resources,
        ..Default::default()
    };
    Job {
        metadata: ObjectMeta {
            name: Some(request.name),
            namespace: Some(request.namespace.into()),
            labels: Some(labels.clone()),
            annotations: Some(annotations),
            owner_references: Some(vec![request.owner]),
            ..Default::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(settings.backoff_limit),
            active_deadline_seconds: Some(deadline),
            // A pod evicted by a drain or preempted does not use up a retry; a failed blocking
            // audit fails the Job at once.
            pod_failure_policy: Some(PodFailurePolicy {
                rules: vec![
                    PodFailurePolicyRule {
                        action: "Ignore".into(),
                        on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                            type_: "DisruptionTarget".into(),
                            status: Some("True".into()),
                        }]),
                        ..Default::default()
                    },
                    PodFailurePolicyRule {
                        action: "FailJob".into(),
                        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                            container_name: Some("sluice".into()),
                            operator: "In".into(),
                            values: vec![sluice_api::jobs::EXIT_AUDIT_FAILED],
                        }),
                        ..Default::default()
                    },
                ],
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    service_account_name: settings.job_service_account.clone(),
                    automount_service_account_token: Some(false),
                    containers: vec![container],
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(65532),
                        run_as_group: Some(65532),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    volumes: Some(vec![Volume {
                        name: "tmp".into(),
                        empty_dir: Some(EmptyDirVolumeSource {
                            size_limit: Some(Quantity("1Gi".into())),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

/// How a Job's most recent pod ended: its container's exit code, and the last lines of its
/// log (for a failure message).
#[derive(Debug, Default)]
pub struct LastPod {
    pub exit_code: Option<i32>,
    pub log_tail: String,
}

pub async fn last_pod(client: &kube::Client, namespace: &str, job: &str) -> LastPod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let Ok(list) = pods
        .list(&ListParams::default().labels(&format!("job-name={job}")))
        .await
    else {
        return LastPod::default();
    };
    let Some(pod) = list
        .items
        .iter()
        .max_by_key(|p| p.metadata.creation_timestamp.clone())
    else {
        return LastPod::default();
    };
    let exit_code = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.first())
        .and_then(|c| c.state.as_ref())
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.exit_code);
    let params = LogParams {
        tail_lines: Some(20),
        ..Default::default()
    };
    let name = pod.metadata.name.clone().unwrap_or_default();
    LastPod {
        exit_code,
        log_tail: pods.logs(&name, &params).await.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(model: &str, deps: &[&str], state: JobState) -> Unit {
        Unit {
            model: model.into(),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            state,
        }
    }

    #[test]
    fn units_start_in_dependency_order_within_the_limit() {
        use JobState::*;
        let units = vec![
            unit("a", &[], Succeeded),
            unit("b", &[], Running),
            unit("c", &["a"], Pending),
            unit("d", &["b"], Pending),
            unit("e", &[], Pending),
            unit("f", &["a"], Pending),
        ];
        let p = next_steps(&units, 3);
        assert_eq!(
            p.start,
            ["c", "e"],
            "d waits for b; the limit leaves room for two"
        );
        assert_eq!((p.total, p.succeeded, p.running, p.pending), (6, 1, 1, 4));
        assert!(!p.done());
    }

    #[test]
    fn jobs_read_the_state_url_from_its_own_secret() {
        let secret = |name: &str, key: &str| SecretKeyRef {
            name: name.into(),
            key: key.into(),
        };
        let mut spec = WarehouseSpec {
            secret_ref: secret("warehouse", "url"),
            state_secret_ref: None,
        };
        let names = |env: &[EnvVar]| env.iter().map(|e| e.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&job_env(&spec)), ["SLUICE_WAREHOUSE", "TMPDIR"]);
        spec.state_secret_ref = Some(secret("state", "pg"));
        let env = job_env(&spec);
        assert_eq!(names(&env), ["SLUICE_WAREHOUSE", "SLUICE_STATE", "TMPDIR"]);
        let from = env[1].value_from.as_ref().unwrap();
        let key = from.secret_key_ref.as_ref().unwrap();
        assert_eq!((key.name.as_str(), key.key.as_str()), ("state", "pg"));
        assert!(env.iter().all(|e| e.value.as_deref() != Some("pg")));
    }

    #[test]
    fn nothing_starts_after_a_failure() {
        use JobState::*;
        let units = vec![
            unit(
                "a",
                &[],
                Failed {
                    job: "j".into(),
                    reason: "BackoffLimitExceeded".into(),
                },
            ),
            unit("b", &[], Pending),
        ];
        let p = next_steps(&units, 4);
        assert!(p.start.is_empty());
        assert_eq!(p.failed.len(), 1);
    }
}
