//! `promote` and `rollback`: each creates a Promotion, signed with `sluice.dev/created-by` = the
//! user the API server says we are (the approval policy admits no other name there, and the
//! operator's no-self-approval rule reads it). A rollback needs the RBAC verb `rollback`: the
//! plugin asks first and names the role that grants it.

use anyhow::{Result, bail};
use clap::Args;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use sluice_api::promotion::{CREATED_BY, RollbackSpec};
use sluice_api::{Environment, Plan, PlanPhase, Promotion, PromotionSpec};

use super::approve::FIELD_MANAGER;
use super::client::{On, Session, get};

#[derive(Args, Debug)]
pub struct PromoteArgs {
    /// The Plan to promote into its environment.
    pub plan: String,
    /// The Promotion's name (default: `<plan>-<environment>`).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Args, Debug)]
pub struct RollbackArgs {
    /// The Environment to roll back.
    pub environment: String,
    /// The release to restore (default: the one the current release was made from).
    #[arg(long, value_name = "RELEASE")]
    pub to: Option<String>,
}

/// A Promotion of `spec`, named `name` (or generated from `prefix`), created by `creator`.
pub fn promotion(
    name: Option<&str>,
    prefix: &str,
    spec: PromotionSpec,
    creator: &str,
) -> Promotion {
    Promotion {
        metadata: ObjectMeta {
            name: name.map(str::to_string),
            generate_name: name.is_none().then(|| prefix.to_string()),
            annotations: Some([(CREATED_BY.to_string(), creator.to_string())].into()),
            ..Default::default()
        },
        spec,
        status: None,
    }
}

/// Creates a Promotion.
pub async fn create(api: &Api<Promotion>, promotion: &Promotion) -> kube::Result<Promotion> {
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    api.create(&params, promotion).await
}

pub async fn run_promote(s: &Session, args: &PromoteArgs) -> Result<u8> {
    let me = s.whoami().await?;
    let plan = get(&s.api::<Plan>(), "plan", &s.namespace, &args.plan).await?;
    let phase = plan.status.as_ref().map(|st| st.phase).unwrap_or_default();
    if matches!(phase, PlanPhase::Promoted | PlanPhase::Superseded) {
        bail!(
            "plan {} is {phase:?}: there is nothing left to promote",
            args.plan
        );
    }
    let promotions: Api<Promotion> = s.api();
    let existing = promotions
        .list(&ListParams::default())
        .await
        .on(format!("promotions in {}", s.namespace))?;
    if let Some(other) = existing.items.iter().find(|p| {
        p.spec.plan.as_deref() == Some(args.plan.as_str())
            && !p.status.as_ref().is_some_and(|st| st.phase.is_terminal())
    }) {
        bail!(
            "plan {} already has promotion {} on its way: `kubectl sluice get promotion {}` shows it",
            args.plan,
            other.name_any(),
            other.name_any()
        );
    }
    let env = &plan.spec.environment;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{env}", args.plan).chars().take(253).collect());
    let spec = PromotionSpec {
        plan: Some(args.plan.clone()),
        rollback: None,
    };
    let created = create(&promotions, &promotion(Some(&name), "", spec, &me.user))
        .await
        .on(format!("creating promotion {}/{name}", s.namespace))?;
    println!(
        "promotion.sluice.dev/{} created: promotes plan {} into {env} (created by {})",
        created.name_any(),
        args.plan,
        me.user
    );
    if phase != PlanPhase::Ready {
        println!(
            "  plan {} is {phase:?}: the promotion waits until it is Ready",
            args.plan
        );
    }
    next_steps(&created.name_any());
    Ok(0)
}

/// Whether the API server lets us `verb` promotions in the session's namespace.
async fn may(s: &Session, verb: &str) -> Result<bool> {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some(sluice_api::GROUP.into()),
                resource: Some("promotions".into()),
                namespace: Some(s.namespace.clone()),
                verb: Some(verb.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(s.client.clone());
    let answer = api
        .create(&PostParams::default(), &review)
        .await
        .on(format!("asking whether you may {verb} promotions"))?;
    Ok(answer.status.is_some_and(|st| st.allowed))
}

pub async fn run_rollback(s: &Session, args: &RollbackArgs) -> Result<u8> {
    let me = s.whoami().await?;
    if !may(s, "rollback").await? {
        bail!(
            "{} may not roll back environment {}/{}: that needs the RBAC verb rollback on \
             promotions.sluice.dev, granted by the ClusterRole sluice-releaser (or \
             sluice-approver) bound in namespace {}",
            me.user,
            s.namespace,
            args.environment,
            s.namespace
        );
    }
    let env: Environment = get(&s.api(), "environment", &s.namespace, &args.environment).await?;
    let current = env
        .status
        .as_ref()
        .and_then(|st| st.release.as_ref())
        .map(|r| r.id.clone());
    let Some(current) = current else {
        bail!(
            "environment {} has no release yet: there is nothing to roll back",
            args.environment
        );
    };
    if args.to.as_deref() == Some(current.as_str()) {
        bail!("environment {} is already at {current}", args.environment);
    }
    let cleaned = env.status.as_ref().and_then(|st| {
        st.releases
            .iter()
            .find(|r| Some(r.id.as_str()) == args.to.as_deref() && !r.restorable)
    });
    if let Some(release) = cleaned {
        bail!(
            "release {} of environment {} can no longer be restored ({}): plan and promote a \
             change that rebuilds it instead (`kubectl sluice releases {}` shows which releases \
             can be rolled back to)",
            release.id,
            args.environment,
            release.reason,
            args.environment
        );
    }
    let spec = PromotionSpec {
        plan: None,
        rollback: Some(RollbackSpec {
            environment: args.environment.clone(),
            release: args.to.clone(),
        }),
    };
    let prefix = format!("{}-rollback-", args.environment);
    let created = create(&s.api(), &promotion(None, &prefix, spec, &me.user))
        .await
        .on(format!(
            "creating a rollback of environment {}/{}",
            s.namespace, args.environment
        ))?;
    let to = args
        .to
        .clone()
        .unwrap_or_else(|| "the release before it".into());
    println!(
        "promotion.sluice.dev/{} created: rolls {} back from {current} to {to} (created by {})",
        created.name_any(),
        args.environment,
        me.user
    );
    let needed = env.spec.promotion.rollback_approvals;
    if needed > 0 {
        println!(
            "  it needs {needed} approval(s): kubectl sluice approve {}",
            created.name_any()
        );
    }
    next_steps(&created.name_any());
    Ok(0)
}

fn next_steps(name: &str) {
    println!("  gates and approvals: kubectl sluice get promotion {name}");
    println!("  wait for it:         kubectl sluice status {name} --watch");
}
