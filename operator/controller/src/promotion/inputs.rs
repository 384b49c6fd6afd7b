//! Everything a promotion decision looks at, gathered in one pass: the Promotion, its Plan and
//! Environment as the API server has them, whether approvals can be trusted, and what the
//! warehouse says (in one session). `decide` turns these into a decision without any I/O.

use std::collections::BTreeMap;

use kube::api::Api;
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};
use sluice_api::Environment;
use sluice_api::approval::CREATED_BY;
use sluice_api::environment::{LineageSpec, PromotionPolicy};
use sluice_api::plan::{BasedOn, Plan, PlanPhase};
use sluice_api::promotion::{ApprovalStatus, Promotion, PromotionStatus};
use sluice_engine::evidence::GateResult;
use sluice_engine::plan::Impact;
use sluice_engine::snapshot::Release;
use sluice_warehouse::promote::{check_plan, product_checks};
use sluice_warehouse::state::{RecordedRejection, StateStore};

use super::super::admission::Trust;
use super::super::context::{Context, WarehouseTarget};
use super::super::error::{Error, Result};
use super::super::plan::warehouse_name;
use super::super::planning::based_on;

/// The inputs of one decision.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub promotion: PromotionFacts,
    pub target: Target,
    /// The Environment object's name and its name in the warehouse.
    pub environment: String,
    pub env_name: String,
    pub policy: PromotionPolicy,
    pub ttl: Option<String>,
    /// The Environment's patience with readers during the flip.
    pub flip: Option<sluice_api::environment::FlipSpec>,
    /// Where the release's OpenLineage event goes.
    pub lineage: Option<LineageSpec>,
    pub trust: Trust,
    pub warehouse: WarehouseFacts,
    /// RFC 3339.
    pub now: String,
}

/// The Promotion itself.
#[derive(Debug, Clone, Default)]
pub struct PromotionFacts {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: Option<String>,
    pub annotations: BTreeMap<String, String>,
    /// `sluice.dev/created-by`, verified by admission.
    pub created_by: Option<String>,
    /// Approvals already shown in status (their first-seen times are kept).
    pub seen: Vec<ApprovalStatus>,
    /// When the operator first saw it while the approval policy was missing.
    pub policy_missing_at: Option<String>,
}

/// What the Promotion asks for.
#[derive(Debug, Clone)]
pub enum Target {
    Plan(Box<PlanFacts>),
    Rollback { release: Option<String> },
}

/// The Plan being promoted, as its status says.
#[derive(Debug, Clone, Default)]
pub struct PlanFacts {
    pub name: String,
    pub phase: PlanPhase,
    pub digest: Option<String>,
    pub plan_id: Option<String>,
    pub based_on: Option<BasedOn>,
    /// Why it failed (model: reason), if it did.
    pub failure: Option<String>,
    /// Its `Audited` condition is True.
    pub audited: bool,
    /// `spec.author`: declared, not verified.
    pub author: Option<String>,
    /// `sluice.dev/created-by`, verified by admission.
    pub created_by: Option<String>,
    /// When the operator first saw it while the approval policy was missing.
    pub policy_missing_at: Option<String>,
    /// Its unit tests: `None` before they ran.
    pub unit_tests: Option<sluice_api::plan::UnitTestsStatus>,
}

/// What the warehouse says.
#[derive(Debug, Clone, Default)]
pub struct WarehouseFacts {
    /// The release this Promotion already made (the operator stopped before recording it).
    pub done: Option<Release>,
    /// The environment's state now.
    pub current: BasedOn,
    /// For a Ready, up-to-date plan: whether every interval it needs is built.
    pub built: Option<Result<(), String>>,
    pub impact: Impact,
    /// The engine's product checks (freshness, quality, rollback readiness), once built.
    pub product_checks: Vec<GateResult>,
    /// For a rollback: the release restored (if it exists) and the digest approvals bind to.
    pub rollback: Option<RollbackFacts>,
    /// The rejection recorded for the digest, lifted or not.
    pub rejection: Option<RecordedRejection>,
}

#[derive(Debug, Clone, Default)]
pub struct RollbackFacts {
    pub current: Option<String>,
    pub target: Option<String>,
    pub digest: String,
    /// Tables of the target that no longer exist (the janitor cleaned the release).
    pub missing: Vec<String>,
}

impl Inputs {
    /// The digest approvals bind to.
    pub fn digest(&self) -> String {
        match &self.target {
            Target::Plan(plan) => plan.digest.clone().unwrap_or_default(),
            Target::Rollback { .. } => self
                .warehouse
                .rollback
                .as_ref()
                .map(|r| r.digest.clone())
                .unwrap_or_default(),
        }
    }
}

/// Gathers the inputs for `promotion`. `fresh`: the approval policy is read again rather than
/// taken from the last few seconds' answer (right before a flip).
pub async fn gather(
    ctx: &Context,
    promotion: &Promotion,
    fresh: bool,
) -> Result<(Inputs, WarehouseTarget)> {
    let namespace = promotion.namespace().unwrap_or_default();
    let mut facts = PromotionFacts {
        namespace: namespace.clone(),
        name: promotion.name_any(),
        uid: promotion.meta().uid.clone().unwrap_or_default(),
        resource_version: promotion.meta().resource_version.clone(),
        annotations: promotion.annotations().clone(),
        created_by: promotion.annotations().get(CREATED_BY).cloned(),
        seen: promotion
            .status
            .as_ref()
            .map(|s| s.approvals.clone())
            .unwrap_or_default(),
        policy_missing_at: promotion
            .status
            .as_ref()
            .and_then(|s| s.policy_missing_at.clone()),
    };
    let (environment, target) = match (&promotion.spec.plan, &promotion.spec.rollback) {
        (Some(name), None) => {
            let plan = read_plan(ctx, &namespace, name).await?;
            (
                plan.spec.environment.clone(),
                Target::Plan(Box::new(plan_facts(&plan))),
            )
        }
        (None, Some(rollback)) => (
            rollback.environment.clone(),
            Target::Rollback {
                release: rollback.release.clone(),
            },
        ),
        _ => {
            return Err(Error::stalled(
                "InvalidSpec",
                "set exactly one of spec.plan and spec.rollback",
            ));
        }
    };
    let environments: Api<Environment> = Api::namespaced(ctx.client.clone(), &namespace);
    let env = environments.get_opt(&environment).await?.ok_or_else(|| {
        Error::stalled(
            "EnvironmentNotFound",
            format!("Environment {namespace}/{environment} does not exist"),
        )
    })?;
    let env_name = warehouse_name(&env)?;
    let url = ctx
        .warehouse_target(&namespace, &env.spec.warehouse)
        .await?;
    let trust = ctx.admission.check(&ctx.client, &namespace, fresh).await;
    let now = sluice_api::conditions::now_rfc3339();
    if trust.distrust().is_some() && facts.policy_missing_at.is_none() {
        facts.policy_missing_at = Some(now.clone());
    }
    let warehouse = {
        let (env_name, target, uid) = (env_name.clone(), target.clone(), facts.uid.clone());
        ctx.with_warehouse(&url, move |wh| {
            warehouse_facts(wh, &env_name, &target, &uid)
        })
        .await?
    };
    let inputs = Inputs {
        promotion: facts,
        target,
        environment,
        env_name,
        policy: env.spec.promotion.clone(),
        ttl: env.spec.ttl.clone(),
        flip: env.spec.flip.clone(),
        lineage: env.spec.lineage.clone(),
        trust,
        warehouse,
        now,
    };
    Ok((inputs, url))
}

/// The Promotion as the API server has it now (not the informer's copy).
pub async fn read_promotion(ctx: &Context, namespace: &str, name: &str) -> Result<Promotion> {
    let api: Api<Promotion> = Api::namespaced(ctx.client.clone(), namespace);
    Ok(api.get(name).await?)
}

async fn read_plan(ctx: &Context, namespace: &str, name: &str) -> Result<Plan> {
    let plans: Api<Plan> = Api::namespaced(ctx.client.clone(), namespace);
    plans.get_opt(name).await?.ok_or_else(|| {
        Error::stalled(
            "PlanNotFound",
            format!("Plan {namespace}/{name} (spec.plan) does not exist"),
        )
    })
}

fn plan_facts(plan: &Plan) -> PlanFacts {
    let status = plan.status.clone().unwrap_or_default();
    PlanFacts {
        name: plan.name_any(),
        phase: status.phase,
        digest: status.digest.clone(),
        plan_id: status.plan_id.clone(),
        based_on: status.based_on.clone(),
        failure: status
            .failure
            .as_ref()
            .map(|f| format!("{}: {}", f.model.as_deref().unwrap_or("?"), f.reason)),
        audited: status
            .conditions
            .iter()
            .any(|c| c.type_ == "Audited" && c.status == "True"),
        author: plan.spec.author.clone(),
        created_by: plan.annotations().get(CREATED_BY).cloned(),
        policy_missing_at: status.policy_missing_at.clone(),
        unit_tests: status.unit_tests.clone(),
    }
}

/// Everything the decision needs from the warehouse, in one session.
fn warehouse_facts(
    wh: &mut dyn sluice_warehouse::warehouse::Warehouse,
    env_name: &str,
    target: &Target,
    uid: &str,
) -> anyhow::Result<WarehouseFacts> {
    let (current, _) = based_on(wh, env_name)?;
    let mut facts = WarehouseFacts {
        done: StateStore::new(wh).release_for_request(uid)?,
        current,
        ..Default::default()
    };
    let digest = match target {
        Target::Plan(plan) => {
            if let Some(id) = &plan.plan_id {
                facts.impact = StateStore::new(wh)
                    .prepared_plan(id)?
                    .map(|p| p.basis.impact)
                    .unwrap_or_default();
                let up_to_date = plan.based_on.as_ref() == Some(&facts.current);
                if plan.phase == PlanPhase::Ready && up_to_date {
                    match check_plan(wh, id) {
                        Ok((prepared, audits)) => {
                            facts.built = Some(Ok(()));
                            let now = chrono::Utc::now().timestamp_millis();
                            facts.product_checks =
                                product_checks(wh, &prepared, &audits, now)?.0.gates;
                        }
                        Err(e) => facts.built = Some(Err(e.to_string())),
                    }
                }
            }
            plan.digest.clone().unwrap_or_default()
        }
        Target::Rollback { release } => {
            let rollback = rollback_facts(wh, env_name, release.as_deref())?;
            let digest = rollback.digest.clone();
            facts.rollback = Some(rollback);
            digest
        }
    };
    if !digest.is_empty() {
        facts.rejection = StateStore::new(wh).rejection(env_name, &digest)?;
    }
    Ok(facts)
}

/// The release a rollback restores, if it exists, and the digest approvals of it bind to.
fn rollback_facts(
    wh: &mut dyn sluice_warehouse::warehouse::Warehouse,
    env_name: &str,
    wanted: Option<&str>,
) -> anyhow::Result<RollbackFacts> {
    let mut state = StateStore::new(wh);
    state.init()?;
    let current = state.environment(env_name)?.and_then(|e| e.release_id);
    let target = match wanted {
        Some(id) => Some(id.to_string()),
        None => match &current {
            Some(id) => state.release(id)?.and_then(|r| r.base_release),
            None => None,
        },
    };
    let exists = match &target {
        Some(id) => state
            .release(id)?
            .is_some_and(|r| r.environment == env_name),
        None => false,
    };
    let target = target.filter(|_| exists);
    let missing = match &target {
        Some(id) => sluice_warehouse::janitor::missing_tables(wh, id)?,
        None => Vec::new(),
    };
    let digest = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(format!(
            "rollback\n{env_name}\n{current:?}\n{target:?}"
        )))
    );
    Ok(RollbackFacts {
        current,
        target,
        digest,
        missing,
    })
}

/// Whether the old status says the Promotion is past deciding (a verdict stands).
pub fn settled(status: &PromotionStatus) -> bool {
    use sluice_api::promotion::PromotionPhase::*;
    match status.phase {
        Promoted | Failed | Superseded => true,
        // A rejection written on this Promotion stands; one recorded for the digest elsewhere
        // can still be lifted here.
        Rejected => !status.rejection.as_ref().is_some_and(|r| r.recorded),
        _ => false,
    }
}
