//! The reconcile frame the three kinds share, as kube-rs's controller-rs shapes one: keep the
//! kind's finalizer when it has cleanup to do, run the kind's step on a copy of its status,
//! turn the outcome into kstatus conditions, write the status (server-side apply) only when it
//! changed, and publish Events for what changed. A kind says only what is its own
//! ([`Reconcile`]); failures are counted in `error_policy`, every time they happen.

use std::sync::Arc;

use futures::future::BoxFuture;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sluice_api::conditions::{Condition, Conditions, now_rfc3339};

use super::context::{Context, apply_status};
use super::error::{Error, Result};

/// A status that carries kstatus conditions and the generation they describe.
pub trait WithConditions {
    fn conditions(&self) -> &[Condition];
    fn set_conditions(&mut self, conditions: Vec<Condition>, generation: Option<i64>);
}

/// What a successful pass reports besides when to look again.
#[derive(Debug)]
pub struct Outcome {
    pub action: Action,
    /// A condition reason more precise than the status alone tells (a Promotion waiting
    /// because approvals cannot be verified).
    pub reason: Option<&'static str>,
}

impl From<Action> for Outcome {
    fn from(action: Action) -> Outcome {
        Outcome {
            action,
            reason: None,
        }
    }
}

/// What one kind brings to the frame.
pub trait Reconcile:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    type Status: WithConditions + Clone + PartialEq + Default + Serialize + Send + Sync;
    /// The kind's name in metrics.
    const KIND: &'static str;
    /// The finalizer kept on objects of this kind, when deleting one needs cleanup.
    const FINALIZER: Option<&'static str> = None;

    fn status(&self) -> Option<&Self::Status>;

    /// This pass's work, recorded in `status`.
    fn step<'a>(
        &'a self,
        ctx: &'a Context,
        status: &'a mut Self::Status,
    ) -> BoxFuture<'a, Result<Outcome>>;

    /// How a status reads as conditions after a successful pass.
    fn summarize(status: &Self::Status, conditions: &mut Conditions, reason: Option<&'static str>);

    /// Events for what a successful pass changed.
    fn announce<'a>(
        &'a self,
        ctx: &'a Context,
        old: &'a Self::Status,
        new: &'a Self::Status,
    ) -> BoxFuture<'a, ()>;

    /// What deleting an object takes (with `FINALIZER`): idempotent, and safe when no pass
    /// ever ran.
    fn cleanup<'a>(&'a self, _ctx: &'a Context) -> BoxFuture<'a, Result<Action>> {
        Box::pin(async { Ok(Action::await_change()) })
    }
}

/// Reconciles one object of kind `K`.
pub async fn reconcile<K: Reconcile>(object: Arc<K>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile(K::KIND);
    let Some(name) = K::FINALIZER else {
        return pass(object.as_ref(), &ctx).await;
    };
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &object.namespace().unwrap_or_default());
    finalizer(&api, name, object, |event| async {
        match event {
            Finalizer::Apply(object) => pass(object.as_ref(), &ctx).await,
            Finalizer::Cleanup(object) => object.cleanup(&ctx).await,
        }
    })
    .await
    .map_err(finalizer_error)
}

/// One pass: the step, then conditions and status from its outcome, then Events.
async fn pass<K: Reconcile>(object: &K, ctx: &Context) -> Result<Action> {
    let old = object.status().cloned().unwrap_or_default();
    let mut status = old.clone();
    let outcome = object.step(ctx, &mut status).await;
    let generation = object.meta().generation;
    let mut conditions = Conditions::new(old.conditions(), generation, &now_rfc3339());
    match &outcome {
        Ok(o) => K::summarize(&status, &mut conditions, o.reason),
        Err(e) if e.is_stalled() => conditions.mark_stalled(e.reason(), &e.to_string()),
        Err(e) => conditions.mark_reconciling(e.reason(), &format!("retrying: {e}")),
    }
    status.set_conditions(conditions.into_ordered(), generation);
    if status != old {
        apply_status(&ctx.client, object, &status).await?;
        match &outcome {
            Err(e) => ctx.event(object, true, e.reason(), e.to_string()).await,
            Ok(_) => object.announce(ctx, &old, &status).await,
        }
    }
    outcome.map(|o| o.action)
}

/// The reconcile error inside a finalizer error.
pub fn finalizer_error(error: kube::runtime::finalizer::Error<Error>) -> Error {
    use kube::runtime::finalizer::Error as F;
    match error {
        F::ApplyFailed(e) | F::CleanupFailed(e) => e,
        F::AddFinalizer(e) | F::RemoveFinalizer(e) => Error::Kube(e),
        F::UnnamedObject => Error::Malformed("an object without a name"),
        F::InvalidFinalizer => Error::Malformed("an invalid finalizer name"),
    }
}

macro_rules! with_conditions {
    ($($status:ty),*) => {$(
        impl WithConditions for $status {
            fn conditions(&self) -> &[Condition] {
                &self.conditions
            }

            fn set_conditions(&mut self, conditions: Vec<Condition>, generation: Option<i64>) {
                self.conditions = conditions;
                self.observed_generation = generation;
            }
        }
    )*};
}

with_conditions!(
    sluice_api::EnvironmentStatus,
    sluice_api::PlanStatus,
    sluice_api::PromotionStatus
);
