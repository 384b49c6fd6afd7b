//! Data products under the operator: the gates a Promotion waits for beyond the quorum (an
//! owner's approval of a meaning change, a classification's approvers, freshness, quality,
//! rollback readiness), and what a release publishes once it is live: the evidence ConfigMap
//! the Promotion owns and the OpenLineage event (retried, never blocking). Environments show
//! each product's freshness, with an Event when a promise is breached and a gauge.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::context::Context;
use super::error::{Error, Result};
use super::gates::{Authors, parse_approval};
use crate::evidence::gates::{ApprovalRequirement, approval_requirements};
use crate::evidence::{Evidence, GateResult, GateState as EngineGate};
use crate::k8s::conditions::now_rfc3339;
use crate::k8s::environment::{
    Environment, EnvironmentStatus, LineageSpec, ProductStatus, PromotionPolicy,
};
use crate::k8s::promotion::{Gate, GateState, LineageStatus, Promotion, PromotionStatus};
use crate::k8s::{MANAGED_BY, plan::ImpactStatus, plan::ProductImpactStatus};
use crate::plan::Plan;
use crate::products::freshness::human_duration;
use crate::products::{Impact, Owners};
use crate::promote::{check_plan, product_checks};
use crate::snapshot::Approval;
use crate::state::StateStore;

/// Attempts at delivering a lineage event before giving up.
const LINEAGE_ATTEMPTS: u32 = 10;

/// The gates of a plan's product checks, evaluated now (shown while the Promotion waits; the
/// engine checks them again inside `promote_plan`).
pub async fn product_check_gates(ctx: &Context, url: &str, plan_id: &str) -> Result<Vec<Gate>> {
    let id = plan_id.to_string();
    let results = ctx
        .with_warehouse(url, move |wh| {
            let (plan, audits) = check_plan(wh, &id)?;
            let now = chrono::Utc::now().timestamp_millis();
            Ok(product_checks(wh, &plan, &audits, now)?.0.gates)
        })
        .await?;
    Ok(results
        .into_iter()
        .map(|g| Gate {
            state: match g.state {
                EngineGate::Passed | EngineGate::Skipped => GateState::Passed,
                // A stale product or a lost table blocks until the backfill catches up.
                EngineGate::Failed | EngineGate::Pending => GateState::Pending,
            },
            name: g.name,
            message: g.message,
        })
        .collect())
}

/// The impact of the plan being promoted, from its record in the warehouse.
pub async fn plan_impact(ctx: &Context, url: &str, plan_id: &str) -> Result<Impact> {
    let id = plan_id.to_string();
    ctx.with_warehouse(url, move |wh| {
        Ok(StateStore::new(wh)
            .prepared_plan(&id)?
            .map(|p| p.impact)
            .unwrap_or_default())
    })
    .await
}

/// Owner and classification approvals: one gate per requirement, and the approvals that
/// satisfied one (recorded with the release).
pub fn people_gates(
    annotations: &BTreeMap<String, String>,
    impact: &Impact,
    policy: &PromotionPolicy,
    digest: &str,
    authors: &Authors,
) -> (Vec<Gate>, Vec<Approval>) {
    let classifications: BTreeMap<String, Owners> = policy
        .classifications
        .iter()
        .map(|(tag, a)| {
            (
                tag.clone(),
                Owners {
                    users: a.users.clone(),
                    groups: a.groups.clone(),
                },
            )
        })
        .collect();
    let approvals: Vec<_> = annotations
        .iter()
        .filter(|(k, _)| k.starts_with(crate::k8s::promotion::APPROVE_PREFIX))
        .filter_map(|(_, v)| parse_approval(v))
        .filter(|a| a.digest == digest)
        .filter(|a| {
            policy.allow_self_approval
                || (authors.plan_author.as_deref() != Some(a.user.as_str())
                    && authors.creator.as_deref() != Some(a.user.as_str()))
        })
        .collect();
    let mut gates = Vec::new();
    let mut used: Vec<Approval> = Vec::new();
    for ApprovalRequirement {
        gate,
        approvers,
        reason,
    } in approval_requirements(impact, &classifications)
    {
        if approvers.is_empty() {
            gates.push(Gate {
                name: gate,
                state: GateState::Passed,
                message: format!("{reason}; nobody is listed to approve it"),
            });
            continue;
        }
        match approvals
            .iter()
            .find(|a| approvers.admits(&a.user, &a.groups))
        {
            Some(a) => {
                gates.push(Gate {
                    name: gate,
                    state: GateState::Passed,
                    message: format!("{reason}; approved by {}", a.user),
                });
                if !used.iter().any(|u| u.user == a.user) {
                    used.push(Approval {
                        user: a.user.clone(),
                        at: chrono::Utc::now().timestamp(),
                        digest: a.digest.clone(),
                        groups: a.groups.clone(),
                        comment: a.comment.clone(),
                    });
                }
            }
            None => gates.push(Gate {
                name: gate,
                state: GateState::Pending,
                message: format!(
                    "{reason}: waiting for an approval from {} (`kubectl sluice approve`; the \
                     author and the promotion's creator do not count unless self-approval is \
                     allowed)",
                    approvers.describe()
                ),
            }),
        }
    }
    (gates, used)
}

/// Whether a gate waits for people (the Promotion is then AwaitingApproval).
pub fn is_approval_gate(name: &str) -> bool {
    name == "approvals" || name.starts_with("owner-approval/") || name.starts_with("policy/")
}

/// Gates as the engine records them in the evidence.
pub fn as_results(gates: &[Gate]) -> Vec<GateResult> {
    gates
        .iter()
        .map(|g| {
            GateResult::new(
                g.name.clone(),
                match g.state {
                    GateState::Passed => EngineGate::Passed,
                    GateState::Pending => EngineGate::Pending,
                    GateState::Failed => EngineGate::Failed,
                },
                g.message.clone(),
            )
        })
        .collect()
}

/// Plan status: the impact on data products.
pub fn impact_status(plan: &Plan) -> Option<ImpactStatus> {
    if plan.impact.is_empty() {
        return None;
    }
    Some(ImpactStatus {
        products: plan
            .impact
            .products
            .iter()
            .map(|p| ProductImpactStatus {
                name: p.product.clone(),
                meaning_change: p.meaning_change,
                models: p
                    .models
                    .iter()
                    .map(|m| {
                        let how = m
                            .category
                            .map(|c| c.as_str().to_string())
                            .unwrap_or_else(|| format!("{:?}", m.change).to_lowercase());
                        format!("{}: {how}", m.model)
                    })
                    .collect(),
                consumers: p.consumers.iter().map(|c| c.name.clone()).collect(),
                owners: p.owners.describe(),
                reasons: p.reasons.clone(),
                intervals: p.backfill.intervals,
                rollback_target: p.rollback_target.clone(),
            })
            .collect(),
        classifications: plan.impact.classifications.keys().cloned().collect(),
    })
}

/// After the flip: the evidence ConfigMap, then the lineage event (retried with backoff).
pub async fn after_promotion(
    p: &Promotion,
    ctx: &Context,
    env: &Environment,
    url: &str,
    status: &mut PromotionStatus,
) -> Result<Action> {
    let Some(release) = status.release.as_ref().map(|r| r.id.clone()) else {
        return Ok(Action::await_change());
    };
    let id = release.clone();
    let lineage = env.spec.lineage.clone().unwrap_or_default();
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
            let evidence = crate::evidence::decode(&text)?;
            let event = if pending {
                let columns = crate::lineage::view_columns(wh, &evidence)?;
                Some(crate::lineage::event(&evidence, &wh_url, &columns))
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
        .ok_or_else(|| Error::Engine("the Promotion has no uid".into()))?;
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: p.namespace(),
            labels: Some(BTreeMap::from([
                (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
                (
                    "sluice.dev/release".to_string(),
                    super::jobs::label_value(&evidence.release),
                ),
            ])),
            annotations: Some(BTreeMap::from([(
                "sluice.dev/schema".to_string(),
                crate::evidence::SCHEMA_VERSION.to_string(),
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
    super::context::apply_config_map(&ctx.client, &cm).await
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
        && let Err(e) = crate::lineage::append(std::path::Path::new(file), &event)
    {
        ctx.event(p, true, "LineageFileFailed", e).await;
    }
    state.attempts += 1;
    let result = match lineage.url.clone() {
        Some(url) => tokio::task::spawn_blocking(move || {
            crate::lineage::post(&url, &event, Duration::from_secs(5))
        })
        .await
        .map_err(|e| Error::Engine(e.to_string()))?,
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

/// Each product's freshness in the environment's live release, now. Emits a Warning Event
/// when a promise becomes breached and sets `sluice_product_freshness_seconds`.
pub async fn product_freshness(
    ctx: &Context,
    env: &Environment,
    url: &str,
    name: &str,
    status: &EnvironmentStatus,
) -> Result<Vec<ProductStatus>> {
    let Some(release) = status.release.as_ref().map(|r| r.id.clone()) else {
        return Ok(Vec::new());
    };
    let env_name = name.to_string();
    let checked = ctx
        .with_warehouse(url, move |wh| {
            let mut state = StateStore::new(wh);
            let Some(text) = state.evidence(&release)? else {
                return Ok(Vec::new());
            };
            let Some(record) = state.environment(&env_name)? else {
                return Ok(Vec::new());
            };
            let evidence = crate::evidence::decode(&text)?;
            let products: Vec<_> = evidence.products.iter().map(|p| p.product()).collect();
            let now = chrono::Utc::now().timestamp_millis();
            let freshness =
                crate::evidence::gates::products_freshness(wh, &products, &record.snapshots, now)?;
            Ok(products
                .into_iter()
                .map(|p| {
                    let stalest = freshness
                        .iter()
                        .filter(|f| f.product == p.name && f.lag_seconds.is_some())
                        .max_by_key(|f| f.lag_seconds)
                        .cloned();
                    (p, stalest)
                })
                .collect::<Vec<_>>())
        })
        .await?;
    let mut out = Vec::new();
    for (product, stalest) in checked {
        let state = match &stalest {
            Some(f) if f.ok => "ok",
            Some(_) => "breached",
            None => "unknown",
        };
        if let Some(lag) = stalest.as_ref().and_then(|f| f.lag_seconds) {
            ctx.metrics.product_freshness(&product.name, name, lag);
        }
        let was = status
            .products
            .iter()
            .find(|p| p.name == product.name)
            .map(|p| p.state.as_str());
        if state == "breached"
            && was != Some("breached")
            && let Some(f) = &stalest
        {
            ctx.event(
                env,
                true,
                "FreshnessBreached",
                format!("product {}: {}", product.name, f.describe()),
            )
            .await;
        }
        out.push(ProductStatus {
            name: product.name.clone(),
            state: state.into(),
            model: stalest.as_ref().map(|f| f.model.clone()),
            lag_seconds: stalest.as_ref().and_then(|f| f.lag_seconds),
            lag: stalest
                .as_ref()
                .and_then(|f| f.lag_seconds)
                .map(human_duration),
            max_age: product.promises.freshness.clone(),
        });
    }
    Ok(out)
}
