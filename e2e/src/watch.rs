//! Watch streams: initial ADDED events (for `resourceVersion` unset/0 or `sendInitialEvents`),
//! then exactly the changes after the requested version, bookmarks when allowed, an ERROR event
//! with 410 Expired for a compacted version, and `timeoutSeconds`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use crate::api::Cluster;
use crate::error::ApiError;
use crate::resources::ResourceInfo;
use crate::selectors::Selectors;
use crate::store::{Event, EventKind};
use crate::table;

/// A parsed watch request.
pub struct WatchRequest {
    pub res: ResourceInfo,
    pub version: String,
    pub namespace: Option<String>,
    pub selectors: Selectors,
    /// `None` or `Some(0)`: start with the current state.
    pub resource_version: Option<u64>,
    pub send_initial_events: bool,
    pub bookmarks: bool,
    pub timeout: Duration,
    /// `includeObject` when the client asked for Table events.
    pub table: Option<String>,
}

/// How often bookmarks are sent when the client allows them.
const BOOKMARK_EVERY: Duration = Duration::from_secs(1);

pub type Frames = mpsc::Receiver<Result<Frame<Bytes>, Infallible>>;

impl WatchRequest {
    /// Namespace and selectors, matched on the object as this resource serves it.
    fn wanted(&self, obj: &Value) -> bool {
        let obj = &crate::convert::to_served(&self.res, obj);
        let ns_ok = match &self.namespace {
            Some(ns) if self.res.namespaced => {
                obj["metadata"]["namespace"].as_str() == Some(ns.as_str())
            }
            _ => true,
        };
        ns_ok && self.selectors.matches(obj)
    }

    /// What this watcher sees of a committed change, if anything: objects entering or leaving
    /// the selection appear as ADDED / DELETED, the latter with the state it had before (at
    /// the event's version), as the watch cache sends it.
    fn project(&self, ev: &Event) -> Option<(&'static str, Value)> {
        if !ev
            .key
            .same_resource(&self.res.storage_group, &self.res.plural)
        {
            return None;
        }
        let now = self.wanted(&ev.object);
        let before = ev.old.as_ref().is_some_and(|o| self.wanted(o));
        match (ev.kind, before, now) {
            (EventKind::Added, _, true) => Some(("ADDED", ev.object.clone())),
            (EventKind::Modified, true, true) => Some(("MODIFIED", ev.object.clone())),
            (EventKind::Modified, false, true) => Some(("ADDED", ev.object.clone())),
            (EventKind::Modified, true, false) => {
                let mut old = ev.old.clone().unwrap_or_default();
                old["metadata"]["resourceVersion"] = json!(ev.rv.to_string());
                Some(("DELETED", old))
            }
            (EventKind::Deleted, true, _) => Some(("DELETED", ev.object.clone())),
            _ => None,
        }
    }

    fn render(&self, kind: &str, obj: &Value) -> Bytes {
        let mut obj = if kind == "BOOKMARK" {
            obj.clone()
        } else {
            crate::convert::to_served(&self.res, obj)
        };
        obj["apiVersion"] = json!(self.res.api_version(&self.version));
        let object = match &self.table {
            Some(include) if kind != "BOOKMARK" => {
                table::table(&self.res.columns(&self.version), &[obj], "", include, true)
            }
            _ => obj,
        };
        let mut line =
            serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut obj = json!({"kind": self.res.kind, "apiVersion": self.res.api_version(&self.version), "metadata": {"resourceVersion": rv.to_string()}});
        if initial_end {
            obj["metadata"]["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        self.render("BOOKMARK", &obj)
    }
}

/// Starts a watch; the returned channel carries the response body's frames.
pub fn start(cluster: &Arc<Cluster>, req: WatchRequest) -> Frames {
    let (tx, rx) = mpsc::channel(256);
    let mut first: Vec<Bytes> = Vec::new();
    let sub = {
        let inner = cluster.store.lock();
        let from = req
            .resource_version
            .filter(|rv| *rv > 0 && !req.send_initial_events);
        match from {
            None => {
                for (_, obj) in inner.list(&req.res.storage_group, &req.res.plural, None) {
                    if req.wanted(obj) {
                        first.push(req.render("ADDED", obj));
                    }
                }
                if req.send_initial_events && req.bookmarks {
                    first.push(req.bookmark(inner.rv(), true));
                }
            }
            Some(rv) => match inner.events_since(rv) {
                Some(events) => first.extend(
                    events
                        .iter()
                        .filter_map(|e| req.project(e).map(|(k, o)| req.render(k, &o))),
                ),
                None => {
                    let status =
                        ApiError::gone(format!("too old resource version: {rv} ({})", inner.rv()))
                            .to_status();
                    let mut line = serde_json::to_vec(&json!({"type": "ERROR", "object": status}))
                        .unwrap_or_default();
                    line.push(b'\n');
                    let _ = tx.try_send(Ok(Frame::data(Bytes::from(line))));
                    return rx;
                }
            },
        }
        inner.subscribe()
    };
    let cluster = cluster.clone();
    tokio::spawn(async move {
        for bytes in first {
            if tx.send(Ok(Frame::data(bytes))).await.is_err() {
                return;
            }
        }
        stream(&cluster, &req, sub, &tx).await;
    });
    rx
}

async fn stream(
    cluster: &Cluster,
    req: &WatchRequest,
    mut sub: broadcast::Receiver<Arc<Event>>,
    tx: &mpsc::Sender<Result<Frame<Bytes>, Infallible>>,
) {
    let deadline = tokio::time::sleep(req.timeout);
    tokio::pin!(deadline);
    let mut ticker = tokio::time::interval(BOOKMARK_EVERY);
    ticker.tick().await;
    loop {
        let bytes = tokio::select! {
            _ = &mut deadline => return,
            _ = tx.closed() => return,
            ev = sub.recv() => match ev {
                Ok(ev) => {
                    match req.project(&ev) {
                        Some((kind, obj)) => req.render(kind, &obj),
                        None => continue,
                    }
                }
                // A watcher that fell behind is closed; the client resumes from its last version.
                Err(_) => return,
            },
            _ = ticker.tick(), if req.bookmarks => {
                // Everything committed up to `rv` is already queued for us, so drain it first.
                let rv = cluster.store.lock().rv();
                while let Ok(ev) = sub.try_recv() {
                    if let Some((kind, obj)) = req.project(&ev)
                        && tx.send(Ok(Frame::data(req.render(kind, &obj)))).await.is_err()
                    {
                        return;
                    }
                }
                req.bookmark(rv, false)
            }
        };
        if tx.send(Ok(Frame::data(bytes))).await.is_err() {
            return;
        }
    }
}
