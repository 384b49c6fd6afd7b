//! Data products under the operator, outside the promotion decision: a Plan's impact on them
//! in its status, and each product's freshness in an Environment's live release (a Warning
//! Event when a promise is breached, and a gauge).

use sluice_api::environment::{Environment, EnvironmentStatus, ProductStatus};
use sluice_api::plan::{ImpactStatus, ProductImpactStatus};
use sluice_engine::plan::Plan;
use sluice_engine::products::freshness::human_duration;
use sluice_warehouse::state::StateStore;

use super::context::{Context, WarehouseTarget};
use super::error::Result;

/// Plan status: the impact on data products.
pub fn impact_status(plan: &Plan) -> Option<ImpactStatus> {
    if plan.basis.impact.is_empty() {
        return None;
    }
    Some(ImpactStatus {
        products: plan
            .basis
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
        classifications: plan.basis.impact.classifications.keys().cloned().collect(),
    })
}

/// Each product's freshness in the environment's live release, now. Emits a Warning Event
/// when a promise becomes breached and sets `sluice_product_freshness_seconds`.
pub async fn product_freshness(
    ctx: &Context,
    env: &Environment,
    url: &WarehouseTarget,
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
            let evidence = sluice_engine::evidence::decode(&text)?;
            let products: Vec<_> = evidence.products.iter().map(|p| p.product()).collect();
            let now = chrono::Utc::now().timestamp_millis();
            let freshness = sluice_warehouse::promote::checks::products_freshness(
                wh,
                &products,
                &record.snapshots,
                now,
            )?;
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
