//! `status PROMOTION|PLAN`: one line saying where it stands, and an exit code a CI script can
//! branch on. With `--watch` it waits until the object is done or `--timeout` passes, printing
//! a line only when something changed.

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use clap::Args;
use sluice_api::conditions::{Condition, STALLED};
use sluice_api::promotion::GateState;
use sluice_api::{Plan, PlanPhase, Promotion, PromotionPhase};
use sluice_engine::intervals::parse_duration;

use super::client::{Session, get_opt};
use super::views::trouble;

/// Exit codes.
pub const DONE: u8 = 0;
pub const FAILED: u8 = 1;
pub const TIMED_OUT: u8 = 2;
pub const AWAITING_APPROVAL: u8 = 3;
pub const IN_PROGRESS: u8 = 4;

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// `promotion/NAME`, `plan/NAME`, or a NAME (a Promotion if one has it, else a Plan).
    pub target: String,
    /// Wait until it is promoted (a plan: Ready), failed, rejected or superseded.
    #[arg(long, short = 'w')]
    pub watch: bool,
    /// With --watch: give up after this long (`30s`, `10m`, `2h`; 0: never).
    #[arg(long, default_value = "10m")]
    pub timeout: String,
}

/// Where an object stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// `Promoted - release prod-r2 is live`.
    pub line: String,
    pub code: u8,
}

/// A Promotion's standing.
pub fn promotion_standing(p: &Promotion) -> Standing {
    let Some(s) = &p.status else {
        return standing("Pending", "waiting for the operator", IN_PROGRESS);
    };
    let phase = format!("{:?}", s.phase);
    let (detail, code) = match s.phase {
        PromotionPhase::Promoted => (
            format!(
                "release {} is live",
                s.release.as_ref().map_or("?", |r| r.id.as_str())
            ),
            DONE,
        ),
        PromotionPhase::Rejected | PromotionPhase::Failed | PromotionPhase::Superseded => {
            (s.message.clone(), FAILED)
        }
        PromotionPhase::AwaitingApproval => (
            format!(
                "approvals {}: kubectl sluice approve {}",
                s.approval_count.as_deref().unwrap_or("?"),
                kube::ResourceExt::name_any(p)
            ),
            AWAITING_APPROVAL,
        ),
        PromotionPhase::Promoting => ("flipping the environment".to_string(), IN_PROGRESS),
        // A gate that failed (not merely pending) will not pass by waiting.
        PromotionPhase::Pending if s.gates.iter().any(|g| g.state == GateState::Failed) => {
            let failed: Vec<String> = s
                .gates
                .iter()
                .filter(|g| g.state == GateState::Failed)
                .map(|g| format!("{}: {}", g.name, g.message))
                .collect();
            (failed.join("; "), FAILED)
        }
        PromotionPhase::Pending => {
            let waiting: Vec<String> = s
                .gates
                .iter()
                .filter(|g| g.state != GateState::Passed)
                .map(|g| format!("{}: {}", g.name, g.message))
                .collect();
            (waiting.join("; "), IN_PROGRESS)
        }
    };
    stalled_or(&s.conditions, &phase, detail, code)
}

/// A Plan's standing: Ready (or Promoted) is done.
pub fn plan_standing(p: &Plan) -> Standing {
    let Some(s) = &p.status else {
        return standing("Pending", "waiting for the operator", IN_PROGRESS);
    };
    let phase = format!("{:?}", s.phase);
    let backfill = || {
        s.backfill
            .as_ref()
            .map_or(String::new(), |b| format!("backfill {}", b.progress))
    };
    let (detail, code) = match s.phase {
        PlanPhase::Ready => (
            format!(
                "ready to promote ({})",
                s.digest
                    .as_deref()
                    .map(sluice_api::approval::abbreviate)
                    .unwrap_or_default()
            ),
            DONE,
        ),
        PlanPhase::Promoted => ("promoted".to_string(), DONE),
        PlanPhase::Failed => (
            s.failure.as_ref().map_or(String::new(), |f| {
                format!("{}: {}", f.model.as_deref().unwrap_or("?"), f.reason)
            }),
            FAILED,
        ),
        PlanPhase::Superseded => ("superseded".to_string(), FAILED),
        PlanPhase::Backfilling => (backfill(), IN_PROGRESS),
        PlanPhase::Pending | PlanPhase::Planning => (String::new(), IN_PROGRESS),
    };
    stalled_or(&s.conditions, &phase, detail, code)
}

/// An object still on its way but Stalled needs someone: it counts as failed.
fn stalled_or(conditions: &[Condition], phase: &str, detail: String, code: u8) -> Standing {
    let stalled = conditions
        .iter()
        .any(|c| c.type_ == STALLED && c.status == "True");
    if stalled && !matches!(code, DONE | FAILED) {
        return standing(&format!("{phase} (Stalled)"), &trouble(conditions), FAILED);
    }
    standing(phase, &detail, code)
}

fn standing(phase: &str, detail: &str, code: u8) -> Standing {
    let line = if detail.is_empty() {
        phase.to_string()
    } else {
        format!("{phase} - {detail}")
    };
    Standing { line, code }
}

/// What `status` looks at.
enum Target {
    Promotion(String),
    Plan(String),
}

async fn resolve(s: &Session, target: &str) -> Result<Target> {
    match target.split_once('/') {
        Some(("promotion" | "promotions" | "sprom", name)) => Ok(Target::Promotion(name.into())),
        Some(("plan" | "plans" | "splan", name)) => Ok(Target::Plan(name.into())),
        Some((kind, _)) => Err(anyhow!(
            "status takes a promotion or a plan (promotion/NAME, plan/NAME), not {kind}"
        )),
        None if get_opt(&s.api::<Promotion>(), "promotion", target)
            .await?
            .is_some() =>
        {
            Ok(Target::Promotion(target.into()))
        }
        None if get_opt(&s.api::<Plan>(), "plan", target).await?.is_some() => {
            Ok(Target::Plan(target.into()))
        }
        None => Err(anyhow!(
            "neither a promotion nor a plan {target} exists in namespace {}",
            s.namespace
        )),
    }
}

/// The standing now, labelled with the object; `None` when the object is gone.
async fn look(s: &Session, target: &Target) -> Result<Option<Standing>> {
    Ok(match target {
        Target::Promotion(name) => get_opt(&s.api::<Promotion>(), "promotion", name)
            .await?
            .map(|p| promotion_standing(&p))
            .map(|st| labelled("promotion", name, st)),
        Target::Plan(name) => get_opt(&s.api::<Plan>(), "plan", name)
            .await?
            .map(|p| plan_standing(&p))
            .map(|st| labelled("plan", name, st)),
    })
}

fn labelled(kind: &str, name: &str, st: Standing) -> Standing {
    Standing {
        line: format!("{kind} {name}: {}", st.line),
        ..st
    }
}

pub async fn run(s: &Session, args: &StatusArgs) -> Result<u8> {
    let timeout = parse_duration(&args.timeout).map_err(|e| anyhow!("--timeout: {e}"))?;
    let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_secs(timeout as u64));
    let target = resolve(s, &args.target).await?;
    let mut last = String::new();
    loop {
        let standing = match look(s, &target).await {
            Ok(Some(st)) => st,
            Ok(None) => return Err(anyhow!("{} was deleted", args.target)),
            // While watching, a hiccup of the API is not the answer: try again.
            Err(e) if args.watch => {
                eprintln!("warning: {e:#}");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        if standing.line != last {
            println!("{}", standing.line);
            last = standing.line.clone();
        }
        let done = matches!(standing.code, DONE | FAILED);
        if done || !args.watch {
            return Ok(standing.code);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            println!("timed out after {}: {last}", args.timeout);
            return Ok(TIMED_OUT);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::super::views::fixtures;
    use super::*;

    #[test]
    fn exit_codes_follow_the_phase() {
        let awaiting = promotion_standing(&fixtures::promotion_awaiting());
        assert_eq!(awaiting.code, AWAITING_APPROVAL);
        assert_eq!(
            awaiting.line,
            "AwaitingApproval - approvals 1/2: kubectl sluice approve orders-v2-prod"
        );
        let rejected = promotion_standing(&fixtures::promotion_rejected());
        assert_eq!(rejected.code, FAILED);
        assert_eq!(
            rejected.line,
            "Rejected - rejected by bob: revenue doubles on 2024-01-03"
        );
        assert_eq!(plan_standing(&fixtures::plan_ready()).code, DONE);
        assert_eq!(
            plan_standing(&fixtures::plan_backfilling()).code,
            IN_PROGRESS
        );
        let failed = plan_standing(&fixtures::plan_failed());
        assert_eq!(failed.code, FAILED);
        assert!(
            failed
                .line
                .starts_with("Failed - mart.daily_revenue: blocking audit failed"),
            "{}",
            failed.line
        );
    }
}
