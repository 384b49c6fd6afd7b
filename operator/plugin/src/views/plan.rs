//! A Plan: what it changes, grouped by category with backfill ranges, each model's Job and its
//! state, and the Promotions of the plan.

use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use sluice_api::jobs::{JobState, state_of};
use sluice_api::plan::{ChangeStatus, ProductImpactStatus};
use sluice_api::{MODEL_LABEL, Plan, PlanPhase, Promotion};

use super::{Scene, plan_status, promotion_status, trouble};
use crate::output::{self, Row, Status, Tone, fields, status};

/// A Plan with its Jobs (`None`: not allowed to list them) and Promotions.
pub struct PlanScene {
    pub plan: Plan,
    pub jobs: Option<Vec<Job>>,
    pub promotions: Vec<Promotion>,
}

/// Category headings, in the order shown.
const GROUPS: &[(&str, &str)] = &[
    ("added", "added"),
    ("breaking", "breaking"),
    ("non_breaking", "non-breaking"),
    ("forward_only", "forward-only"),
    ("indirect_breaking", "indirect breaking"),
    ("indirect_non_breaking", "indirect non-breaking"),
    ("metadata", "metadata"),
    ("removed", "removed"),
];

/// The group a change belongs to: added and removed models by their change, others by category.
fn group_of(change: &ChangeStatus) -> &str {
    match change.change.as_str() {
        "added" | "removed" => change.change.as_str(),
        _ => change.category.as_deref().unwrap_or("metadata"),
    }
}

impl Scene for PlanScene {
    fn header(&self, color: bool) -> String {
        let p = &self.plan;
        let s = p.status.clone().unwrap_or_default();
        let mut message = s
            .failure
            .as_ref()
            .map(|f| {
                let mut text = match &f.model {
                    Some(model) => format!("{model}: {}", f.reason),
                    None => f.reason.clone(),
                };
                if !f.log_tail.is_empty() {
                    text.push_str("\nlog:\n");
                    text.push_str(&f.log_tail);
                }
                if s.phase == PlanPhase::Failed {
                    text.push_str(&format!(
                        "\nfix the cause, then `kubectl sluice retry {}` reruns the failed work",
                        p.name_any()
                    ));
                }
                text
            })
            .unwrap_or_default();
        if message.is_empty() {
            message = trouble(&s.conditions);
        }
        let summary = s.summary.as_ref().map_or(String::new(), |x| {
            let counts = [
                (x.added, "added"),
                (x.removed, "removed"),
                (x.breaking, "breaking"),
                (x.non_breaking, "non-breaking"),
                (x.forward_only, "forward-only"),
                (x.indirect_breaking, "indirect breaking"),
                (x.indirect_non_breaking, "indirect non-breaking"),
                (x.metadata, "metadata"),
            ]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect::<Vec<_>>();
            let counts = if counts.is_empty() {
                "no changes".to_string()
            } else {
                counts.join(", ")
            };
            format!(
                "{} change(s) of {} model(s): {counts}; {} batch(es) to build",
                x.changes, x.models, x.intervals
            )
        });
        let backfill = s.backfill.as_ref().map_or(String::new(), |b| {
            format!(
                "{} unit(s) done ({} running, {} pending, {} failed)",
                b.progress, b.running, b.pending, b.failed
            )
        });
        let based_on = s.based_on.as_ref().map_or(String::new(), |b| {
            b.release.clone().unwrap_or_else(|| "no release yet".into())
        });
        let source = s
            .source
            .as_ref()
            .map_or(String::new(), |src| match &src.revision {
                Some(rev) => format!("{} (revision {rev})", src.digest),
                None => src.digest.clone(),
            });
        fields(&[
            ("Name", p.name_any()),
            ("Namespace", p.namespace().unwrap_or_default()),
            ("Environment", p.spec.environment.clone()),
            ("Author", p.spec.author.clone().unwrap_or_default()),
            ("Status", plan_status(s.phase).paint(color)),
            ("Message", message),
            ("Digest", s.digest.clone().unwrap_or_default()),
            ("Based on", based_on),
            ("Source", source),
            ("Summary", summary),
            ("Backfill", backfill),
            (
                "Tags",
                s.impact
                    .as_ref()
                    .map(|i| i.classifications.join(", "))
                    .unwrap_or_default(),
            ),
            ("Warnings", s.warnings.join("\n")),
        ])
    }

    fn tree(&self) -> Row {
        let p = &self.plan;
        let s = p.status.clone().unwrap_or_default();
        let mut children: Vec<Row> = GROUPS
            .iter()
            .filter_map(|(key, heading)| {
                let models: Vec<Row> = s
                    .changes
                    .iter()
                    .filter(|c| group_of(c) == *key)
                    .map(|c| self.model_row(c, s.phase))
                    .collect();
                (!models.is_empty()).then(|| Row::group(*heading, models))
            })
            .collect();
        if let Some(summary) = &s.summary
            && summary.changes as usize > s.changes.len()
        {
            children.push(Row::group(
                format!(
                    "{} more change(s): the full plan is in ConfigMap {}",
                    summary.changes as usize - s.changes.len(),
                    s.plan_config_map.clone().unwrap_or_default()
                ),
                vec![],
            ));
        }
        if let Some(impact) = s.impact.as_ref().filter(|i| !i.products.is_empty()) {
            let products = impact.products.iter().map(product_row).collect();
            children.push(Row::group("data products", products));
        }
        let promotions: Vec<Row> = self
            .promotions
            .iter()
            .filter(|pr| pr.spec.plan.as_deref() == Some(p.name_any().as_str()))
            .map(|pr| {
                let st = pr.status.clone().unwrap_or_default();
                Row::new(pr.name_any(), "Promotion")
                    .status(promotion_status(st.phase))
                    .since(output::created(&pr.metadata))
                    .info(
                        st.approval_count
                            .map(|c| format!("approvals {c}"))
                            .unwrap_or_default(),
                    )
            })
            .collect();
        if !promotions.is_empty() {
            children.push(Row::group("promotions", promotions));
        }
        let mut info = s
            .backfill
            .as_ref()
            .map(|b| format!("backfill {}", b.progress))
            .unwrap_or_default();
        if self.jobs.is_none() {
            info.push_str(" (Jobs not shown: you may not list Jobs here)");
        }
        Row::new(p.name_any(), "Plan")
            .status(plan_status(s.phase))
            .since(output::created(&p.metadata))
            .info(info)
            .children(children)
    }
}

impl PlanScene {
    fn model_row(&self, change: &ChangeStatus, phase: PlanPhase) -> Row {
        let jobs: Vec<&Job> = self
            .jobs
            .iter()
            .flatten()
            .filter(|j| {
                j.annotations().get(MODEL_LABEL).map(String::as_str) == Some(change.model.as_str())
            })
            .collect();
        let mut info = format!("{}, {}", change.kind, change.change.replace('_', " "));
        if let Some(range) = &change.backfill {
            info.push_str(&format!(
                "; backfill {range} ({} batch(es))",
                change.batches
            ));
        }
        let failed = self
            .plan
            .status
            .as_ref()
            .and_then(|s| s.failure.as_ref())
            .is_some_and(|f| f.model.as_deref() == Some(change.model.as_str()));
        let done = matches!(phase, PlanPhase::Ready | PlanPhase::Promoted);
        let model_status = match jobs.first() {
            Some(job) => Some(job_status(job).0),
            None if change.change == "removed" => Some(status(Tone::Neutral, "Removed")),
            None if failed => Some(status(Tone::Bad, "Failed")),
            // Without Jobs to look at, only a finished plan says how every model stands.
            None if self.jobs.is_none() => done.then(|| status(Tone::Good, "Ready")),
            None if done => Some(status(Tone::Good, "Reused")),
            None => Some(status(Tone::Waiting, "Pending")),
        };
        let job_rows = jobs
            .iter()
            .map(|job| {
                let (st, reason) = job_status(job);
                Row::new(job.name_any(), "Job")
                    .status(st)
                    .since(output::created(&job.metadata))
                    .info(reason)
            })
            .collect();
        let mut row = Row::new(change.model.clone(), "Model")
            .info(info)
            .children(job_rows);
        row.status = model_status;
        row
    }
}

/// An affected data product: its changed models, who reads it, what it is behind, and whether
/// the change alters its meaning (then one of its owners must approve).
fn product_row(product: &ProductImpactStatus) -> Row {
    let mut info = vec![product.models.join(", ")];
    if product.meaning_change {
        info.push(format!("an owner must approve ({})", product.owners));
    }
    info.extend(product.reasons.iter().cloned());
    if !product.consumers.is_empty() {
        info.push(format!("consumers {}", product.consumers.join(", ")));
    }
    if product.intervals > 0 {
        info.push(format!("{} batch(es) to build", product.intervals));
    }
    if let Some(target) = &product.rollback_target {
        info.push(format!("rollback to {target}"));
    }
    let verdict = if product.meaning_change {
        status(Tone::Waiting, "MeaningChange")
    } else {
        status(Tone::Good, "Compatible")
    };
    Row::new(product.name.clone(), "Product")
        .status(verdict)
        .info(info.join("; "))
}

/// A Job's state, and why it failed.
fn job_status(job: &Job) -> (Status, String) {
    match state_of(job) {
        JobState::Succeeded => (status(Tone::Good, "Succeeded"), String::new()),
        JobState::Failed { reason, .. } => (status(Tone::Bad, "Failed"), reason),
        JobState::Running => (status(Tone::Progressing, "Running"), String::new()),
        JobState::Pending => (status(Tone::Waiting, "Pending"), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    #[test]
    fn a_backfilling_plan_groups_changes_and_shows_jobs() {
        let scene = PlanScene {
            plan: fixtures::plan_backfilling(),
            jobs: Some(fixtures::jobs()),
            promotions: vec![fixtures::promotion_awaiting()],
        };
        fixtures::golden("plan_backfilling.txt", &scene.render(fixtures::NOW, false));
    }

    #[test]
    fn a_failed_plan_says_what_failed_and_how_to_retry() {
        let scene = PlanScene {
            plan: fixtures::plan_failed(),
            jobs: None,
            promotions: vec![],
        };
        fixtures::golden("plan_failed.txt", &scene.render(fixtures::NOW, false));
    }
}
