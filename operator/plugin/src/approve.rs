//! `approve`, `reject` and `lift`: one annotation each, under the user's own key, in exactly
//! the grammar the approval policy admits and the operator reads (`k8s::approval::grammar`):
//!
//! - `approve.sluice.dev/<key>: <user>@sha256:<digest>[ groups=<g1>,<g2>][; <comment>]`
//! - `reject.sluice.dev/<key>: <user>[ groups=<g1>,<g2>]: <reason>`
//! - `lift.sluice.dev/<key>: <user>@sha256:<digest>[ groups=...][; <comment>]`
//!
//! An approval binds to the digest of the plan as it is now (re-planning changes the digest and
//! the approval stops counting). Before writing, the Environment's own rules (the operator's
//! tally) say whether it would count; one that would not is refused with the reason.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use clap::Args;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use sluice_api::approval::{
    self, APPROVE_PREFIX, Authors, Ballot, CREATED_BY, LIFT_PREFIX, REJECT_PREFIX, abbreviate,
};
use sluice_api::labels::label_value;
use sluice_api::{Environment, Plan, PlanPhase, Promotion, PromotionPhase};

use super::client::{Identity, On, Session, get, get_opt};

/// The field manager of the plugin's writes.
pub const FIELD_MANAGER: &str = "kubectl-sluice";

#[derive(Args, Debug)]
pub struct ApproveArgs {
    /// The Promotion to approve.
    pub promotion: String,
    /// A note kept with the approval (`; <comment>` in the annotation).
    #[arg(long, short = 'm')]
    pub comment: Option<String>,
}

#[derive(Args, Debug)]
pub struct RejectArgs {
    /// The Promotion to reject.
    pub promotion: String,
    /// Why (kept in the annotation and shown in the Promotion's status).
    #[arg(long, short = 'r')]
    pub reason: String,
}

#[derive(Args, Debug)]
pub struct LiftArgs {
    /// The Promotion stopped by a rejection recorded for its plan digest.
    pub promotion: String,
    /// Why the rejection no longer stands (kept with the lift).
    #[arg(long, short = 'm')]
    pub comment: Option<String>,
}

/// `approve.sluice.dev/<key>`, `reject.sluice.dev/<key>` or `lift.sluice.dev/<key>`: one key per
/// user, a valid annotation name (the user name itself when it is one, else a readable prefix
/// and a hash).
pub fn annotation_key(prefix: &str, user: &str) -> String {
    format!("{prefix}{}", label_value(user))
}

/// The groups to name in an approval: those of the user's verified groups the Environment's
/// policy lists (so the operator can count a group approver).
pub fn approval_groups(me: &Identity, environment: Option<&Environment>) -> Vec<String> {
    let Some(env) = environment else {
        return Vec::new();
    };
    let wanted = &env.spec.promotion.approvers.groups;
    me.groups
        .iter()
        .filter(|g| wanted.contains(g))
        .cloned()
        .collect()
}

/// Writes one annotation on a Promotion (a JSON merge patch: nothing else changes). A dry run
/// goes through admission (the approval policy) without changing anything.
pub async fn annotate(
    api: &Api<Promotion>,
    name: &str,
    key: &str,
    value: &str,
    dry_run: bool,
) -> kube::Result<Promotion> {
    let patch = json!({"metadata": {"annotations": {key: value}}});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        dry_run,
        ..Default::default()
    };
    api.patch(name, &params, &Patch::Merge(&patch)).await
}

/// Writes `key: value` on the Promotion once admission accepted it (a dry run first, so a
/// denial by the approval policy is what the user sees) and `verdict` (the Environment's rules)
/// says it counts.
async fn write(
    s: &Session,
    me: &Identity,
    name: &str,
    (key, value): (&str, &str),
    verdict: std::result::Result<(), String>,
) -> Result<()> {
    let api: Api<Promotion> = s.api();
    let doing = |what: &str| format!("{what} promotion {}/{name} as {}", s.namespace, me.user);
    let verb = if key.starts_with(APPROVE_PREFIX) {
        "approving"
    } else if key.starts_with(LIFT_PREFIX) {
        "lifting the rejection of"
    } else {
        "rejecting"
    };
    annotate(&api, name, key, value, true)
        .await
        .on(doing(verb))?;
    if let Err(reason) = verdict {
        bail!("not {}: it would not count: {reason}", doing(verb));
    }
    annotate(&api, name, key, value, false)
        .await
        .on(doing(verb))?;
    Ok(())
}

/// The digest an approval of `promotion` binds to: its Ready plan's, or for a rollback the one
/// the operator computed. Refuses when there is none to bind to.
async fn bound_digest(s: &Session, promotion: &Promotion) -> Result<(String, Option<Plan>)> {
    let name = promotion.name_any();
    if let Some(plan_name) = &promotion.spec.plan {
        let plan = get(&s.api::<Plan>(), "plan", &s.namespace, plan_name).await?;
        let status = plan.status.clone().unwrap_or_default();
        match (status.phase, &status.digest) {
            (PlanPhase::Ready, Some(digest)) => Ok((digest.clone(), Some(plan))),
            (PlanPhase::Ready, None) => bail!(
                "plan {plan_name} has no digest in its status yet: nothing to bind an approval to; try again in a moment"
            ),
            (phase, _) => bail!(
                "plan {plan_name} is {phase:?}, not Ready: an approval binds to the digest of a Ready plan \
                 (`kubectl sluice status plan/{plan_name} --watch` waits for it), so promotion {name} cannot be approved yet"
            ),
        }
    } else {
        match promotion.status.as_ref().and_then(|st| st.digest.clone()) {
            Some(digest) => Ok((digest, None)),
            None => bail!(
                "the operator has not evaluated rollback {name} yet (no digest in its status): try again in a moment"
            ),
        }
    }
}

/// The Promotion, refusing one that is already over.
async fn open_promotion(s: &Session, name: &str) -> Result<Promotion> {
    let promotion = get(&s.api::<Promotion>(), "promotion", &s.namespace, name).await?;
    if let Some(status) = &promotion.status
        && status.phase.is_terminal()
    {
        bail!(
            "promotion {name} is already {:?}{}: nothing to approve or reject",
            status.phase,
            Some(&status.message)
                .filter(|m| !m.is_empty())
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        );
    }
    Ok(promotion)
}

/// The Environment a Promotion promotes into, when it may be read.
async fn environment_of(
    s: &Session,
    promotion: &Promotion,
    plan: Option<&Plan>,
) -> Result<Option<Environment>> {
    let name = plan.map(|p| p.spec.environment.clone()).or_else(|| {
        promotion
            .spec
            .rollback
            .as_ref()
            .map(|r| r.environment.clone())
    });
    match name {
        Some(name) => get_opt(&s.api::<Environment>(), "environment", &name).await,
        None => Ok(None),
    }
}

/// Whether the Environment's rules would count `value` under `key` on `promotion`, judged by
/// the operator's own tally with no other approvals: `Err(reason)` when they would not.
fn would_count(
    promotion: &Promotion,
    plan: Option<&Plan>,
    env: &Environment,
    key: &str,
    value: &str,
    digest: &str,
) -> std::result::Result<(), String> {
    let annotations = BTreeMap::from([(key.to_string(), value.to_string())]);
    let authors = authors(promotion, plan);
    let policy = &env.spec.promotion;
    let tally = approval::tally(&Ballot {
        annotations: &annotations,
        policy,
        required: policy.required(),
        digest,
        authors: &authors,
        seen: &[],
        now: "",
        distrust: None,
    });
    if let Some(approval) = tally.approvals.first().filter(|a| !a.counted) {
        return Err(approval.reason.clone());
    }
    if key.starts_with(LIFT_PREFIX) && tally.lifts.is_empty() {
        return Err(match tally.blocked {
            Some(why) => why,
            None => "only an approver of this environment who did not write or create the \
                     change may lift a rejection"
                .into(),
        });
    }
    match tally.ignored_rejections.first() {
        Some(reason) => Err(reason.clone()),
        None => Ok(()),
    }
}

/// Who may not approve, as the operator tells it.
fn authors(promotion: &Promotion, plan: Option<&Plan>) -> Authors {
    let creator = |annotations: &BTreeMap<String, String>| annotations.get(CREATED_BY).cloned();
    let mut unknown = Vec::new();
    if creator(promotion.annotations()).is_none() {
        unknown.push(format!(
            "promotion {} has no sluice.dev/created-by",
            promotion.name_any()
        ));
    }
    if let Some(plan) = plan
        && creator(plan.annotations()).is_none()
    {
        unknown.push(format!(
            "plan {} has no sluice.dev/created-by",
            plan.name_any()
        ));
    }
    Authors {
        plan_author: plan.and_then(|p| p.spec.author.clone()),
        plan_creator: plan.and_then(|p| creator(p.annotations())),
        promotion_creator: creator(promotion.annotations()),
        unknown,
    }
}

/// An approval or lift about to be written: by whom, on which Promotion, for which digest.
struct Signing<'a> {
    me: &'a Identity,
    promotion: &'a Promotion,
    plan: Option<&'a Plan>,
    digest: &'a str,
}

impl Signing<'_> {
    /// Writes `<prefix><key>: <you>@<digest>[ groups=...][; comment]` once admission and the
    /// Environment's rules say it counts; the key, value and groups named.
    async fn write(
        &self,
        s: &Session,
        prefix: &str,
        comment: Option<&str>,
    ) -> Result<(String, String, Vec<String>)> {
        let env = environment_of(s, self.promotion, self.plan).await?;
        let groups = approval_groups(self.me, env.as_ref());
        let value = approval::signature_value(&self.me.user, self.digest, &groups, comment)
            .map_err(|e| anyhow!(e))?;
        let key = annotation_key(prefix, &self.me.user);
        let verdict = match &env {
            Some(env) => would_count(self.promotion, self.plan, env, &key, &value, self.digest),
            None => Ok(()),
        };
        let name = self.promotion.name_any();
        write(s, self.me, &name, (&key, &value), verdict).await?;
        Ok((key, value, groups))
    }
}

pub async fn run_approve(s: &Session, args: &ApproveArgs) -> Result<u8> {
    let me = s.whoami().await?;
    let promotion = open_promotion(s, &args.promotion).await?;
    let (digest, plan) = bound_digest(s, &promotion).await?;
    let signed = Signing {
        me: &me,
        promotion: &promotion,
        plan: plan.as_ref(),
        digest: &digest,
    };
    let (key, value, groups) = signed
        .write(s, APPROVE_PREFIX, args.comment.as_deref())
        .await?;
    let what = match &promotion.spec.plan {
        Some(plan) => format!("plan {plan}"),
        None => "the rollback".to_string(),
    };
    let via = if groups.is_empty() {
        String::new()
    } else {
        format!(" (groups {})", groups.join(", "))
    };
    println!(
        "promotion {} approved by {}{via} for {what} at {}",
        args.promotion,
        me.user,
        abbreviate(&digest)
    );
    println!("  {key}: {value}");
    Ok(0)
}

pub async fn run_reject(s: &Session, args: &RejectArgs) -> Result<u8> {
    let me = s.whoami().await?;
    let promotion = open_promotion(s, &args.promotion).await?;
    let plan = match &promotion.spec.plan {
        Some(name) => get_opt(&s.api::<Plan>(), "plan", name).await?,
        None => None,
    };
    let env = environment_of(s, &promotion, plan.as_ref()).await?;
    let groups = approval_groups(&me, env.as_ref());
    let value =
        approval::rejection_value(&me.user, &groups, &args.reason).map_err(|e| anyhow!(e))?;
    let key = annotation_key(REJECT_PREFIX, &me.user);
    let verdict = match &env {
        Some(env) => would_count(&promotion, plan.as_ref(), env, &key, &value, ""),
        None => Ok(()),
    };
    write(s, &me, &args.promotion, (&key, &value), verdict).await?;
    println!(
        "promotion {} rejected by {}: {}",
        args.promotion,
        me.user,
        args.reason.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    Ok(0)
}

pub async fn run_lift(s: &Session, args: &LiftArgs) -> Result<u8> {
    let me = s.whoami().await?;
    let promotion = get(
        &s.api::<Promotion>(),
        "promotion",
        &s.namespace,
        &args.promotion,
    )
    .await?;
    let status = promotion.status.clone().unwrap_or_default();
    let recorded = status.rejection.as_ref().filter(|r| r.recorded);
    let Some(rejection) = recorded.filter(|_| status.phase == PromotionPhase::Rejected) else {
        bail!(
            "promotion {} is not stopped by a recorded rejection: nothing to lift (a rejection \
             written on the promotion itself is withdrawn by its author, with `kubectl annotate \
             promotion/{} reject.sluice.dev/<key>-`)",
            args.promotion,
            args.promotion
        );
    };
    let digest = status
        .digest
        .clone()
        .ok_or_else(|| anyhow!("promotion {} has no digest in its status", args.promotion))?;
    let plan = match &promotion.spec.plan {
        Some(name) => get_opt(&s.api::<Plan>(), "plan", name).await?,
        None => None,
    };
    let signed = Signing {
        me: &me,
        promotion: &promotion,
        plan: plan.as_ref(),
        digest: &digest,
    };
    signed
        .write(s, LIFT_PREFIX, args.comment.as_deref())
        .await?;
    println!(
        "rejection by {} ({}) lifted by {} for plan digest {}",
        rejection.user,
        rejection.reason,
        me.user,
        abbreviate(&digest)
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_has_one_valid_key() {
        assert_eq!(
            annotation_key(APPROVE_PREFIX, "alice"),
            "approve.sluice.dev/alice"
        );
        assert_eq!(
            annotation_key(APPROVE_PREFIX, "jane@example.com"),
            "approve.sluice.dev/jane-example-com-8c87b489ce"
        );
        for user in [
            "jane@example.com",
            "system:serviceaccount:ci:release-bot",
            &"x".repeat(80),
        ] {
            let key = annotation_key(APPROVE_PREFIX, user);
            let name = key.strip_prefix(APPROVE_PREFIX).unwrap();
            assert!(name.len() <= 63, "{key}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                "{key}"
            );
            assert!(
                name.starts_with(|c: char| c.is_ascii_alphanumeric()),
                "{key}"
            );
            assert!(name.ends_with(|c: char| c.is_ascii_alphanumeric()), "{key}");
        }
        assert_ne!(
            annotation_key(APPROVE_PREFIX, "jane@example.com"),
            annotation_key(APPROVE_PREFIX, "jane.example.com")
        );
    }
}
