//! Human and JSON output: plan summaries in SQLMesh's shape, apply progress, listings.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Instant;

use serde::Serialize;
use sluice_engine::intervals::format_boundary;
use sluice_engine::plan::{ChangeType, DEV_SUFFIX, Plan};
use sluice_engine::snapshot::{Category, EnvironmentRecord, Release};
use sluice_warehouse::apply::ApplyEvent;
use sluice_warehouse::executor::{TaskOutcome, WorkEvent};
use sluice_warehouse::run::RunReport;

/// `sluice plan --json`: `{"environment": ..., "changes": [...]}` with half-open backfill
/// ranges (`end` exclusive). Structs rather than `json!` keep the documented key order.
pub fn plan_json(plan: &Plan) -> serde_json::Result<String> {
    #[derive(Serialize)]
    struct Range {
        start: String,
        end: String,
    }
    #[derive(Serialize)]
    struct ChangeJson<'a> {
        model: &'a str,
        change: ChangeType,
        #[serde(skip_serializing_if = "Option::is_none")]
        category: Option<Category>,
        kind: &'a str,
        version: &'a str,
        table: &'a str,
        backfill: Vec<Range>,
    }
    #[derive(Serialize)]
    struct PlanJson<'a> {
        environment: &'a str,
        changes: Vec<ChangeJson<'a>>,
        /// The plan's impact on each data product it touches (`products.yaml`).
        products: &'a [sluice_engine::plan::ProductImpact],
        /// Tags of changed models (and classifications of their products) → those models.
        classifications: &'a std::collections::BTreeMap<String, Vec<String>>,
    }
    let changes = plan
        .basis
        .changes
        .iter()
        .map(|c| ChangeJson {
            model: &c.model,
            change: c.change,
            category: c.category,
            kind: &c.kind,
            version: &c.version,
            table: &c.table,
            backfill: c
                .backfill
                .iter()
                .map(|i| Range {
                    start: format_boundary(i.start),
                    end: format_boundary(i.end),
                })
                .collect(),
        })
        .collect();
    serde_json::to_string_pretty(&PlanJson {
        environment: &plan.basis.environment,
        changes,
        products: &plan.basis.impact.products,
        classifications: &plan.basis.impact.classifications,
    })
}

/// The plan summary: what changed (by section, with categories) and what will be backfilled.
pub fn plan_summary(plan: &Plan, base: Option<&str>) -> String {
    let mut out = String::new();
    let rule = "-".repeat(70);
    let _ = writeln!(out, "{rule}");
    match base {
        Some(b) if b == plan.basis.environment => {
            let _ = writeln!(out, "Differences from the `{b}` environment:");
        }
        Some(b) => {
            let _ = writeln!(
                out,
                "New environment `{}` will be created from `{b}`",
                plan.basis.environment
            );
        }
        None => {
            let _ = writeln!(
                out,
                "New environment `{}` will be created",
                plan.basis.environment
            );
        }
    }
    if plan.basis.changes.is_empty() {
        let _ = writeln!(out, "\nNo changes to models.");
    }
    let sections = [
        ChangeType::Added,
        ChangeType::Removed,
        ChangeType::DirectlyModified,
        ChangeType::IndirectlyModified,
        ChangeType::MetadataUpdated,
    ];
    for section in sections {
        let items: Vec<_> = plan
            .basis
            .changes
            .iter()
            .filter(|c| c.change == section)
            .collect();
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{}:", section.heading());
        for (i, c) in items.iter().enumerate() {
            let branch = if i + 1 == items.len() {
                "└──"
            } else {
                "├──"
            };
            let category = c
                .category
                .map(|k| format!(" ({})", pretty_category(k)))
                .unwrap_or_default();
            let _ = writeln!(out, "  {branch} {}{category}", c.model);
        }
    }
    if !plan.basis.grants.is_empty() {
        let _ = writeln!(
            out,
            "\nGrants (applied to the environment's views when it is flipped; DuckDB has no \
             roles, so there they are only recorded in the release):"
        );
        for (i, g) in plan.basis.grants.iter().enumerate() {
            let branch = if i + 1 == plan.basis.grants.len() {
                "└──"
            } else {
                "├──"
            };
            let _ = writeln!(out, "  {branch} {}: {}", g.model, g.describe());
        }
    }
    let work: Vec<_> = plan
        .backfill
        .iter()
        .filter(|b| !b.batches.is_empty())
        .collect();
    if !work.is_empty() {
        let _ = writeln!(out, "\nModels needing backfill (missing dates):");
        for (i, b) in work.iter().enumerate() {
            let branch = if i + 1 == work.len() {
                "└──"
            } else {
                "├──"
            };
            let first = b.batches.first().map(|x| x.start).unwrap_or(0);
            let last = b.batches.last().map(|x| x.end).unwrap_or(0);
            let range = sluice_engine::intervals::Interval::new(first, last);
            let batches = if b.batches.len() > 1 {
                format!(" in {} batches", b.batches.len())
            } else {
                String::new()
            };
            let preview = if b.version.ends_with(DEV_SUFFIX) {
                " (preview in a dev table)"
            } else {
                ""
            };
            let _ = writeln!(out, "  {branch} {}: {range}{batches}{preview}", b.model);
        }
    }
    out.push_str(&super::impact::impact_summary(plan));
    for warning in &plan.warnings {
        let _ = writeln!(out, "\nWarning: {warning}");
    }
    let _ = writeln!(out, "{rule}");
    out
}

/// Categories as SQLMesh prints them.
fn pretty_category(c: Category) -> &'static str {
    match c {
        Category::Breaking => "Breaking",
        Category::NonBreaking => "Non-breaking",
        Category::ForwardOnly => "Forward-only",
        Category::IndirectBreaking => "Indirect Breaking",
        Category::IndirectNonBreaking => "Indirect Non-breaking",
        Category::Metadata => "Metadata",
    }
}

/// Prints apply progress: one line per batch and audit, with elapsed time.
pub struct Progress {
    started: Instant,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            started: Instant::now(),
        }
    }

    pub fn event(&mut self, event: ApplyEvent) {
        match event {
            ApplyEvent::Task { index, total, task } => {
                print!("[{index}/{total}] {} ... ", task.describe());
                let _ = std::io::stdout().flush();
            }
            ApplyEvent::TaskDone { outcome, .. } => self.done(outcome),
            ApplyEvent::Promoted(release) => {
                println!(
                    "Promoted {} snapshot(s) into {} in one transaction.",
                    release.snapshots.len(),
                    release.environment
                );
            }
        }
    }
}

impl Progress {
    /// Progress of one unit of work (a Job's, or `sluice run`'s), one line per task.
    pub fn work_event(&mut self, event: WorkEvent) {
        match event {
            WorkEvent::Task {
                task,
                skipped: true,
            } => println!("{} ... already recorded", task.describe()),
            WorkEvent::Task { task, .. } => {
                print!("{} ... ", task.describe());
                let _ = std::io::stdout().flush();
            }
            WorkEvent::TaskDone { outcome, .. } => self.done(outcome),
        }
    }

    fn done(&self, outcome: &TaskOutcome) {
        let failed: Vec<String> = outcome
            .audits
            .iter()
            .filter(|a| !a.passed())
            .map(|a| {
                let level = if a.blocking { "FAILED" } else { "warning" };
                format!("{} {level} ({})", a.audit, a.finding())
            })
            .collect();
        let audits = if outcome.audits.is_empty() {
            String::new()
        } else if failed.is_empty() {
            format!(" {} audit(s) passed", outcome.audits.len())
        } else {
            format!(" {}", failed.join(", "))
        };
        println!("ok{audits} ({:.1}s)", self.started.elapsed().as_secs_f64());
    }
}

/// What `sluice run` did.
pub fn run_summary(environment: &str, report: &RunReport) -> String {
    let mut out = String::new();
    if report.models.is_empty() && report.failures.is_empty() {
        let _ = writeln!(
            out,
            "Environment {environment} is up to date: nothing to run."
        );
        return out;
    }
    let batches: usize = report.models.iter().map(|(_, n)| n).sum();
    let _ = writeln!(
        out,
        "Ran {batches} batch(es) of {} model(s) in {environment}.",
        report.models.len()
    );
    for f in &report.failures {
        let interval = f.interval.map(|i| format!(" for {i}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} on {}{interval}: {} violating row(s); not recorded",
            f.audit, f.model, f.violations
        );
    }
    out
}

fn when(secs: i64) -> String {
    sluice_engine::intervals::format_ts(secs * 1000)
}

pub use super::impact::gates_summary;

/// `sluice releases --json`: each release as stored, with its `evidence` document added.
pub fn releases_json(
    state: &mut sluice_warehouse::state::StateStore,
    releases: &[Release],
) -> anyhow::Result<String> {
    let mut out = Vec::with_capacity(releases.len());
    for release in releases {
        let mut value = serde_json::to_value(release)?;
        let evidence = match state.evidence(&release.id)? {
            Some(text) => serde_json::from_str(&text)?,
            None => serde_json::Value::Null,
        };
        if let Some(object) = value.as_object_mut() {
            object.insert("evidence".into(), evidence);
        }
        out.push(value);
    }
    Ok(serde_json::to_string_pretty(&out)?)
}

pub fn releases_table(environment: &str, releases: &[Release]) -> String {
    let mut out = String::new();
    if releases.is_empty() {
        let _ = writeln!(out, "Environment {environment} has no releases.");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<14} {:<10} {:<20} {:<12} {:>6}  DETAIL",
        "RELEASE", "KIND", "CREATED (UTC)", "BY", "MODELS"
    );
    for r in releases {
        let kind = match r.kind {
            sluice_engine::snapshot::ReleaseKind::Promotion => "promotion",
            sluice_engine::snapshot::ReleaseKind::Rollback => "rollback",
        };
        let detail = match &r.restored_release {
            Some(id) => format!("restored {id}"),
            None => format!("plan {}, {} audit(s)", r.plan_id, r.audits.len()),
        };
        let _ = writeln!(
            out,
            "{:<14} {:<10} {:<20} {:<12} {:>6}  {detail}",
            r.id,
            kind,
            when(r.created_at),
            r.created_by,
            r.snapshots.len()
        );
    }
    out
}

pub fn environments_table(envs: &[EnvironmentRecord]) -> String {
    let mut out = String::new();
    if envs.is_empty() {
        let _ = writeln!(
            out,
            "No environments yet: run `sluice apply` to build prod."
        );
        return out;
    }
    let _ = writeln!(
        out,
        "{:<16} {:<14} {:>6} {:<20} EXPIRES (UTC)",
        "ENVIRONMENT", "RELEASE", "MODELS", "UPDATED (UTC)"
    );
    for e in envs {
        let _ = writeln!(
            out,
            "{:<16} {:<14} {:>6} {:<20} {}",
            e.name,
            e.release_id.as_deref().unwrap_or("-"),
            e.snapshots.len(),
            when(e.updated_at),
            e.expires_at.map(when).unwrap_or_else(|| "never".into())
        );
    }
    out
}
