//! The operator's small HTTP servers: `/metrics` (Prometheus text), `/healthz` and `/readyz`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use super::metrics::Metrics;

/// What the endpoints report.
pub struct Health {
    pub metrics: Arc<Metrics>,
    /// Set once the operator checked its CRDs and connected: ready to take the lease.
    pub ready: AtomicBool,
    /// Whether this replica holds the leader lease (shown on `/readyz`).
    pub leading: AtomicBool,
    /// When the async runtime last ran the heartbeat task (unix seconds): a wedged runtime
    /// stops it.
    pub heartbeat: AtomicI64,
    /// Set when a controller's loop ended (the process is about to exit).
    pub stopped: AtomicBool,
}

/// A heartbeat older than this makes `/healthz` fail, so the kubelet restarts the pod.
const STALE_AFTER_SECONDS: i64 = 30;

impl Health {
    pub fn new(metrics: Arc<Metrics>) -> Health {
        Health {
            metrics,
            ready: AtomicBool::new(false),
            leading: AtomicBool::new(false),
            heartbeat: AtomicI64::new(now()),
            stopped: AtomicBool::new(false),
        }
    }

    /// Beats every few seconds for as long as the runtime runs tasks.
    pub fn beat(self: &Arc<Self>) {
        let health = self.clone();
        tokio::spawn(async move {
            loop {
                health.heartbeat.store(now(), Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        });
    }

    /// Why the process is not alive, if it is not.
    fn dead(&self) -> Option<String> {
        let age = now() - self.heartbeat.load(Ordering::Relaxed);
        if self.stopped.load(Ordering::Relaxed) {
            Some("a controller stopped\n".into())
        } else if age > STALE_AFTER_SECONDS {
            Some(format!("the runtime has not run for {age}s\n"))
        } else {
            None
        }
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Serves until the process ends; binding failure is returned at once.
pub async fn serve(addr: SocketAddr, health: Arc<Health>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let health = health.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| respond(req, health.clone()));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(())
}

async fn respond(
    req: Request<Incoming>,
    health: Arc<Health>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, content_type, body) = match req.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            health.metrics.encode(),
        ),
        "/healthz" => match health.dead() {
            None => (StatusCode::OK, "text/plain", "ok\n".to_string()),
            Some(why) => (StatusCode::SERVICE_UNAVAILABLE, "text/plain", why),
        },
        "/readyz" if health.ready.load(Ordering::Relaxed) => {
            let role = if health.leading.load(Ordering::Relaxed) {
                "leader"
            } else {
                "standby"
            };
            (StatusCode::OK, "text/plain", format!("ok ({role})\n"))
        }
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "starting\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_string(),
        ),
    };
    Ok(Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response"))
}
