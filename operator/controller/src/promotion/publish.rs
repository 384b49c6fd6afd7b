//! What a release publishes once it is live: the evidence ConfigMap the Promotion owns (with
//! the digest of what was written in the Promotion's status, which only the operator can
//! write) and the OpenLineage event, retried with backoff and never blocking.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use sluice_api::MANAGED_BY;
use sluice_api::conditions::now_rfc3339;
use sluice_api::environment::LineageSpec;
use sluice_api::promotion::{LineageStatus, Promotion, PromotionStatus};
use sluice_engine::evidence::Evidence;
use sluice_warehouse::state::StateStore;

use super::super::context::{Context, WarehouseTarget};
use super::super::error::{Error, Result};

/// Attempts at delivering a lineage event before giving up.
const LINEAGE_ATTEMPTS: u32 = 10;

/// After the flip: the evidence ConfigMap, then the lineage event (retried with backoff).
pub async fn after_promotion(
    p: &Promotion,
    ctx: &Context,
    lineage: Option<&LineageSpec>,
    url: &WarehouseTarget,
    status: &mut PromotionStatus,
) -> Result<Action> {
    let Some(release) = status.release.as_ref().map(|r| r.id.clone()) else {
        return Ok(Action::await_change());
    };
    let id = release.clone();
    let lineage = lineage.cloned().unwrap_or_default();
    let wants_lineage = lineage.url.is_some() || lineage.file.is_some();
    let pending = wants_lineage
        && status
            .lineage
            .as_ref()
            .is_none_or(|l| l.state == "Retrying");
    if status.evidence.is_some() && !pending {
        return Ok(Action::await_change());
    }
    let wh_url = url.to_string();
    let loaded = ctx
        .with_warehouse(url, move |wh| {
            let Some(text) = StateStore::new(wh).evidence(&id)? else {
                return Ok(None);
            };
            let evidence = sluice_engine::evidence::decode(&text)?;
            let event = if pending {
                let columns = sluice_warehouse::lineage::view_columns(wh, &evidence)?;
                Some(sluice_warehouse::lineage::event(
                    &evidence, &wh_url, &columns,
                ))
            } else {
                None
            };
            Ok(Some((text, evidence, event)))
        })
        .await?;
    let Some((text, evidence, event)) = loaded else {
        return Ok(Action::await_change());
    };
    if status.evidence.is_none() {
        status.evidence = Some(write_evidence(ctx, p, &evidence, &text).await?);
        status.evidence_digest = Some(sluice_engine::evidence::text_digest(&text));
    }
    match event {
        Some(event) => deliver(p, ctx, &lineage, status, event).await,
        None => Ok(Action::await_change()),
    }
}

async fn write_evidence(
    ctx: &Context,
    p: &Promotion,
    evidence: &Evidence,
    text: &str,
) -> Result<String> {
    let name = format!("{}-evidence", p.name_any());
    let owner = p
        .controller_owner_ref(&())
        .ok_or(Error::Malformed("a Promotion without a uid"))?;
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: p.namespace(),
            labels: Some(BTreeMap::from([
                (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
                (
                    "sluice.dev/release".to_string(),
                    sluice_api::labels::label_value(&evidence.release),
                ),
            ])),
            annotations: Some(BTreeMap::from([(
                "sluice.dev/schema".to_string(),
                sluice_engine::evidence::SCHEMA_VERSION.to_string(),
            )])),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "evidence.json".to_string(),
            text.to_string(),
        )])),
        ..Default::default()
    };
    super::super::context::apply_config_map(&ctx.client, &cm).await
}

/// One delivery attempt (the file is written once, on the first); a failure is recorded and
/// retried later with backoff, and after `LINEAGE_ATTEMPTS` the operator gives up with a
/// Warning Event. Nothing here touches the release.
async fn deliver(
    p: &Promotion,
    ctx: &Context,
    lineage: &LineageSpec,
    status: &mut PromotionStatus,
    event: serde_json::Value,
) -> Result<Action> {
    // The cached object may not show the last attempt yet: read the status afresh, so an
    // attempt is neither repeated early nor miscounted.
    let api: Api<Promotion> =
        Api::namespaced(ctx.client.clone(), &p.namespace().unwrap_or_default());
    if let Some(fresh) = api
        .get_status(&p.name_any())
        .await?
        .status
        .and_then(|s| s.lineage)
    {
        if fresh.state != "Retrying" {
            status.lineage = Some(fresh);
            return Ok(Action::await_change());
        }
        status.lineage = Some(fresh);
    }
    let mut state = status.lineage.clone().unwrap_or(LineageStatus {
        state: "Retrying".into(),
        ..Default::default()
    });
    // Status writes wake the controller at once: wait out the backoff here, not only in the
    // requeue.
    let due = state
        .next_attempt_at
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.timestamp() - chrono::Utc::now().timestamp());
    if let Some(wait) = due.filter(|w| *w > 0) {
        return Ok(Action::requeue(Duration::from_secs(wait as u64)));
    }
    if state.attempts == 0
        && let Some(file) = &lineage.file
        && let Err(e) = sluice_warehouse::lineage::append(std::path::Path::new(file), &event)
    {
        ctx.event(p, true, "LineageFileFailed", e).await;
    }
    state.attempts += 1;
    let result = match lineage.url.clone() {
        Some(url) => {
            tokio::task::spawn_blocking(move || {
                sluice_warehouse::lineage::post(&url, &event, Duration::from_secs(5))
            })
            .await?
        }
        None => Ok(()),
    };
    let action = match result {
        Ok(()) => {
            state.state = "Sent".into();
            state.last_error = None;
            state.next_attempt_at = None;
            state.sent_at = Some(now_rfc3339());
            Action::await_change()
        }
        Err(e) if state.attempts >= LINEAGE_ATTEMPTS => {
            state.state = "GaveUp".into();
            state.next_attempt_at = None;
            ctx.event(
                p,
                true,
                "LineageUndelivered",
                format!("gave up after {} attempts: {e}", state.attempts),
            )
            .await;
            state.last_error = Some(e);
            Action::await_change()
        }
        Err(e) => {
            let wait = (1i64 << state.attempts.min(8)).min(300);
            state.state = "Retrying".into();
            state.last_error = Some(e);
            state.next_attempt_at =
                chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp() + wait, 0)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            Action::requeue(Duration::from_secs(wait as u64))
        }
    };
    status.lineage = Some(state);
    Ok(action)
}
