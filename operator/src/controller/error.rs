//! The operator's errors, each with the `reason` a condition and a metric show.

use std::time::Duration;

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
    /// The engine failed in a way that is not the input's fault.
    #[error("{0}")]
    Engine(String),
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
            Error::Engine(_) => "EngineError",
        }
    }

    /// Stalled errors wait for a change; the rest are retried with backoff.
    pub fn is_stalled(&self) -> bool {
        matches!(self, Error::Stalled { .. })
    }

    /// Turns an engine error into the right kind: unreachable warehouse, or an engine failure.
    pub fn from_engine(error: anyhow::Error) -> Error {
        let text = format!("{error:#}");
        if is_unavailable(&error) {
            Error::WarehouseUnavailable(text)
        } else {
            Error::Engine(text)
        }
    }
}

/// Whether an engine error means the warehouse is not there (rather than a bad statement).
pub fn is_unavailable(error: &anyhow::Error) -> bool {
    use crate::warehouse::WarehouseError;
    for cause in error.chain() {
        if let Some(WarehouseError::Connect { .. }) = cause.downcast_ref::<WarehouseError>() {
            return true;
        }
    }
    let text = format!("{error:#}").to_ascii_lowercase();
    [
        "cannot connect to warehouse",
        "connection closed",
        "connection refused",
        "connection reset",
        "terminating connection",
        "the database system is shutting down",
        "the database system is starting up",
        "error connecting",
        "broken pipe",
        "timed out",
    ]
    .iter()
    .any(|p| text.contains(p))
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
    fn connection_errors_are_unavailability() {
        let connect = anyhow::Error::new(crate::warehouse::WarehouseError::Connect {
            url: "postgres://db".into(),
            message: "refused".into(),
        });
        assert!(is_unavailable(&connect));
        let sql = anyhow::Error::new(crate::warehouse::WarehouseError::Sql {
            sql: "SELECT".into(),
            message: "syntax error".into(),
        });
        assert!(!is_unavailable(&sql));
        let closed =
            anyhow::anyhow!("db error: FATAL: terminating connection due to administrator command");
        assert!(is_unavailable(&closed));
    }
}
