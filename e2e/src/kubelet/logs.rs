//! `pods/{name}/log`: the container's combined stdout and stderr, with `tailLines`,
//! `limitBytes` and `follow` (streams until the pod stops running).

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use serde_json::Value;
use tokio::sync::mpsc;

use super::pods::pod_dir;
use crate::api::Cluster;
use crate::error::{ApiError, ApiResult};
use crate::watch::Frames;

pub enum LogReply {
    Text(String),
    Follow(Frames),
}

fn tail(text: &str, lines: Option<usize>) -> String {
    match lines {
        Some(n) => {
            let all: Vec<&str> = text.lines().collect();
            let mut out = all[all.len().saturating_sub(n)..].join("\n");
            if !out.is_empty() {
                out.push('\n');
            }
            out
        }
        None => text.to_string(),
    }
}

pub fn read(
    cluster: &std::sync::Arc<Cluster>,
    pod: &Value,
    query: &HashMap<String, String>,
) -> ApiResult<LogReply> {
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ns = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let path = pod_dir(cluster, pod["metadata"]["uid"].as_str().unwrap_or_default()).join("log");
    let Ok(text) = std::fs::read(&path) else {
        let container = pod["spec"]["containers"][0]["name"]
            .as_str()
            .unwrap_or_default();
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
        )));
    };
    let mut text = tail(
        &String::from_utf8_lossy(&text),
        query.get("tailLines").and_then(|n| n.parse().ok()),
    );
    if let Some(limit) = query
        .get("limitBytes")
        .and_then(|n| n.parse::<usize>().ok())
    {
        text.truncate(limit);
    }
    if query.get("follow").map(String::as_str) != Some("true") {
        return Ok(LogReply::Text(text));
    }
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(16);
    let cluster = cluster.clone();
    tokio::spawn(async move {
        let mut offset = std::fs::metadata(&path)
            .map(|m| m.len() as usize)
            .unwrap_or_default();
        if tx.send(Ok(Frame::data(Bytes::from(text)))).await.is_err() {
            return;
        }
        loop {
            let running = cluster
                .resource("", "v1", "pods")
                .and_then(|res| cluster.get(&res, &ns, &name))
                .is_ok_and(|p| {
                    matches!(p["status"]["phase"].as_str(), Some("Running" | "Pending"))
                });
            let data = std::fs::read(&path).unwrap_or_default();
            if data.len() > offset {
                let chunk = Bytes::copy_from_slice(&data[offset..]);
                offset = data.len();
                if tx.send(Ok(Frame::data(chunk))).await.is_err() {
                    return;
                }
            }
            if !running {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Ok(LogReply::Follow(rx))
}
