//! The janitor on a schedule: every interval, for each warehouse the watched Environments use,
//! drop expired environments, tables no environment or kept release needs, and what
//! interrupted flips left — with the warehouse-side guarantees of `sluice_warehouse::janitor`
//! (live plans' tables, recent snapshots, the flip's lock timeout). What it dropped becomes
//! Events on the Environments of that warehouse.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use sluice_api::Environment;
use sluice_warehouse::janitor::{JanitorReport, janitor};

pub use super::context::JanitorSettings;
use super::context::{Context, WarehouseTarget};

/// Runs the janitor every interval for the Environments in `scopes` (namespaces; `None`: all).
pub async fn run(ctx: Arc<Context>, scopes: Vec<Option<String>>) {
    let Some(interval) = ctx.settings.janitor.interval else {
        return;
    };
    loop {
        tokio::time::sleep(interval).await;
        for scope in &scopes {
            if let Err(e) = sweep(&ctx, scope.as_deref()).await {
                tracing::warn!(error = %e, "the scheduled janitor could not list Environments");
            }
        }
    }
}

/// One pass over the warehouses of the Environments in `namespace`.
async fn sweep(ctx: &Context, namespace: Option<&str>) -> Result<(), kube::Error> {
    let api: Api<Environment> = match namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let mut by_warehouse: BTreeMap<WarehouseTarget, Vec<Environment>> = BTreeMap::new();
    for env in api.list(&Default::default()).await?.items {
        let ns = env.namespace().unwrap_or_default();
        match ctx.warehouse_target(&ns, &env.spec.warehouse).await {
            Ok(url) => by_warehouse.entry(url).or_default().push(env),
            Err(e) => {
                tracing::debug!(environment = %env.name_any(), error = %e, "janitor: no warehouse URL")
            }
        }
    }
    let settings = ctx.settings.janitor.clone();
    for (url, envs) in by_warehouse {
        let now = chrono::Utc::now().timestamp();
        let (keep, grace) = (settings.keep_releases, settings.grace.as_secs() as i64);
        let report = ctx
            .with_warehouse(&url, move |wh| Ok(janitor(wh, now, keep, grace)?))
            .await;
        match report {
            Ok(report) => {
                announce(ctx, &envs, &report).await;
                if !report.dropped_tables.is_empty() {
                    publish_releases(ctx, &envs, &url).await;
                }
            }
            Err(e) => {
                for env in &envs {
                    ctx.event(env, true, "JanitorFailed", e.to_string()).await;
                }
            }
        }
    }
    Ok(())
}

/// Tells each Environment at once which releases can still be rolled back to (its own
/// reconcile would say so too, but only at its next scheduled look).
async fn publish_releases(ctx: &Context, envs: &[Environment], url: &WarehouseTarget) {
    for env in envs {
        let Some(name) = env.status.as_ref().and_then(|s| s.warehouse_name.clone()) else {
            continue;
        };
        let Ok(releases) = super::environment::release_availability(ctx, url, &name).await else {
            continue;
        };
        let api: Api<Environment> =
            Api::namespaced(ctx.client.clone(), &env.namespace().unwrap_or_default());
        let patch = serde_json::json!({ "status": { "releases": releases } });
        if let Err(e) = api
            .patch_status(
                &env.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            tracing::debug!(environment = %env.name_any(), error = %e, "janitor: status not updated");
        }
    }
}

/// Events for what the janitor did: on each Environment whose warehouse environment it dropped,
/// and a summary on every Environment of the warehouse.
async fn announce(ctx: &Context, envs: &[Environment], report: &JanitorReport) {
    let dropped = report.dropped_tables.len() + report.dropped_schemas.len();
    ctx.metrics.janitor_dropped.inc_by(dropped as u64);
    for env in envs {
        let name = env
            .status
            .as_ref()
            .and_then(|s| s.warehouse_name.clone())
            .unwrap_or_else(|| env.name_any());
        if report.dropped_environments.contains(&name) {
            let note = format!("the janitor dropped environment {name}'s views: its ttl passed");
            ctx.event(env, false, "Expired", note).await;
        }
        if let Some((_, why)) = report.skipped_environments.iter().find(|(n, _)| *n == name) {
            let note = format!("the janitor will retry dropping {name}: {why}");
            ctx.event(env, true, "JanitorDeferred", note).await;
        }
    }
    if dropped == 0 && report.skipped_tables.is_empty() {
        return;
    }
    let mut note = format!(
        "the janitor dropped {} table(s) no kept release needs",
        report.dropped_tables.len()
    );
    let sample: Vec<String> = report
        .dropped_tables
        .iter()
        .take(10)
        .map(|t| t.to_string())
        .collect();
    if !sample.is_empty() {
        note.push_str(&format!(" ({}", sample.join(", ")));
        if report.dropped_tables.len() > sample.len() {
            note.push_str(", ...");
        }
        note.push(')');
    }
    if !report.dropped_schemas.is_empty() {
        note.push_str(&format!(
            "; {} schema(s) left by interrupted flips",
            report.dropped_schemas.len()
        ));
    }
    if !report.skipped_tables.is_empty() {
        note.push_str(&format!(
            "; {} table(s) kept for now (in use or depended on)",
            report.skipped_tables.len()
        ));
    }
    for env in envs {
        ctx.event(env, false, "JanitorDropped", note.clone()).await;
    }
}
