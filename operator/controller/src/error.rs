//! The operator's errors, each with the `reason` a condition and a metric show. Failures carry
//! their type (`#[from]`), and whether one is worth retrying later — the warehouse was not
//! there — is decided from that type, never from the text of a message.

use std::time::Duration;

use sluice_warehouse::promote::PromoteError;
use sluice_warehouse::state::StateError;
use sluice_warehouse::warehouse::WarehouseError;

/// Why a reconcile did not finish. Every error ends up in a condition (reason and message) and
/// an Event, never only in a log line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Waiting for something only a person can fix or provide: a missing object, bad input.
    /// The object is Stalled; the operator looks again later and when related objects change.
    #[error("{message}")]
    Stalled {
        reason: &'static str,
        message: String,
    },
    /// The warehouse cannot be reached (or went away mid-way): retried with backoff.
    #[error("warehouse unavailable: {0}")]
    WarehouseUnavailable(String),
    /// The Kubernetes API refused (403 names the missing permission) or failed.
    #[error("{}", describe_kube(.0))]
    Kube(#[from] kube::Error),
    /// Engine work on the warehouse failed in a way that is not the input's fault.
    #[error("{0:#}")]
    Engine(anyhow::Error),
    #[error(transparent)]
    State(StateError),
    #[error(transparent)]
    Promote(PromoteError),
    /// A git command failed in a way the Plan's source does not explain.
    #[error("git: {0}")]
    Git(String),
    /// The operator's own scratch files (project checkouts in /tmp).
    #[error("the operator's local files: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Engine work on a blocking thread panicked or was cancelled.
    #[error("engine task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// An object the API server returned lacks what every stored object has (a name, a uid).
    #[error("the API server returned {0}")]
    Malformed(&'static str),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn stalled(reason: &'static str, message: impl Into<String>) -> Error {
        Error::Stalled {
            reason,
            message: message.into(),
        }
    }

    /// CamelCase reason for conditions, Events and the `reason` label of the error metric.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Stalled { reason, .. } => reason,
            Error::WarehouseUnavailable(_) => "WarehouseUnavailable",
            Error::Kube(kube::Error::Api(status)) if status.code == 403 => "Forbidden",
            Error::Kube(_) => "KubernetesApiError",
            Error::Git(_) => "GitFailed",
            Error::Io(_) => "LocalFilesError",
            Error::Engine(_)
            | Error::State(_)
            | Error::Promote(_)
            | Error::Json(_)
            | Error::Task(_)
            | Error::Malformed(_) => "EngineError",
        }
    }

    /// Stalled errors wait for a change; the rest are retried with backoff.
    pub fn is_stalled(&self) -> bool {
        matches!(self, Error::Stalled { .. })
    }
}

/// Engine failures: an unreachable warehouse becomes `WarehouseUnavailable`, the rest keep
/// their type.
impl From<anyhow::Error> for Error {
    fn from(error: anyhow::Error) -> Error {
        if sluice_warehouse::is_unavailable(&error) {
            Error::WarehouseUnavailable(format!("{error:#}"))
        } else {
            Error::Engine(error)
        }
    }
}

impl From<WarehouseError> for Error {
    fn from(error: WarehouseError) -> Error {
        Error::from(anyhow::Error::new(error))
    }
}

impl From<StateError> for Error {
    fn from(error: StateError) -> Error {
        match error {
            StateError::Warehouse(e) if e.is_unavailable() => {
                Error::WarehouseUnavailable(e.to_string())
            }
            other => Error::State(other),
        }
    }
}

impl From<PromoteError> for Error {
    fn from(error: PromoteError) -> Error {
        match error {
            PromoteError::State(e) => Error::from(e),
            PromoteError::Warehouse { error, .. } if error.is_unavailable() => {
                Error::WarehouseUnavailable(error.to_string())
            }
            other => Error::Promote(other),
        }
    }
}

fn describe_kube(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if status.code == 403 => format!(
            "the operator is not allowed to do this (403 Forbidden): {}; check the operator's \
             RBAC (the chart's ClusterRole/Role)",
            status.message
        ),
        kube::Error::Api(status) => format!("Kubernetes API: {} ({})", status.message, status.code),
        other => format!("Kubernetes API: {other}"),
    }
}

/// Exponential backoff for the n-th consecutive failure: 2 s, 4 s, ... capped at 5 minutes.
pub fn backoff(failures: u32) -> Duration {
    let seconds = 2u64.saturating_pow(failures.clamp(1, 9));
    Duration::from_secs(seconds.min(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(50), Duration::from_secs(300));
    }

    #[test]
    fn unavailability_is_decided_by_the_error_type() {
        let connect = WarehouseError::Connect {
            url: "postgres://db".into(),
            message: "refused".into(),
        };
        assert_eq!(Error::from(connect).reason(), "WarehouseUnavailable");
        let lost = StateError::Warehouse(WarehouseError::Lost {
            sql: "SELECT 1".into(),
            message: "FATAL: terminating connection due to administrator command".into(),
        });
        assert_eq!(Error::from(lost).reason(), "WarehouseUnavailable");
        let sql = WarehouseError::Sql {
            sql: "SELECT".into(),
            message: "connection refused, said the user's string literal".into(),
        };
        assert_eq!(Error::from(sql).reason(), "EngineError");
        let wrapped = anyhow::Error::new(WarehouseError::Connect {
            url: "postgres://db".into(),
            message: "refused".into(),
        })
        .context("reading the plan");
        assert_eq!(Error::from(wrapped).reason(), "WarehouseUnavailable");
    }
}
