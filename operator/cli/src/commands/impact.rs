//! The data-product parts of the command line's output: a plan's impact on each product, and
//! the gates a release passed.

use std::fmt::Write as _;

use sluice_engine::evidence::{Evidence, GateState};
use sluice_engine::plan::Plan;
use sluice_engine::plan::impact::{ColumnChanges, ModelImpact};

/// "Data products:" — what the plan does to each product it touches.
pub fn impact_summary(plan: &Plan) -> String {
    let mut out = String::new();
    let impact = &plan.basis.impact;
    if impact.products.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\nData products:");
    for p in &impact.products {
        let note = if p.meaning_change {
            format!(
                " — MEANING CHANGE: needs an approval from an owner ({})",
                p.owners.describe()
            )
        } else {
            String::new()
        };
        let _ = writeln!(out, "  {}{note}", p.product);
        for (i, m) in p.models.iter().enumerate() {
            let branch = if i + 1 == p.models.len() {
                "└──"
            } else {
                "├──"
            };
            let _ = writeln!(out, "    {branch} {}", model_line(m));
        }
        for reason in &p.reasons {
            let _ = writeln!(out, "    meaning change: {reason}");
        }
        if !p.consumers.is_empty() {
            let consumers: Vec<String> = p
                .consumers
                .iter()
                .map(|c| {
                    let kind = serde_json::to_value(c.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    let reach = [c.owner.as_deref(), c.contact.as_deref(), c.url.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>();
                    if reach.is_empty() {
                        format!("{} ({kind})", c.name)
                    } else {
                        format!("{} ({kind}; {})", c.name, reach.join(", "))
                    }
                })
                .collect();
            let _ = writeln!(out, "    consumers: {}", consumers.join(", "));
        }
        let b = &p.backfill;
        let estimate = match (b.estimated_rows, b.estimated_seconds) {
            (Some(rows), Some(secs)) => {
                format!(", about {rows} rows in {secs:.1}s from earlier runs")
            }
            (None, Some(secs)) => format!(", about {secs:.1}s from earlier runs"),
            _ if b.intervals > 0 => ", no earlier runs to estimate from".to_string(),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "    backfill: {} interval(s) of {} model(s){estimate}",
            b.intervals,
            b.models.len()
        );
        let _ = writeln!(
            out,
            "    rollback target: {}",
            p.rollback_target
                .as_deref()
                .unwrap_or("none (the environment has no release yet)")
        );
    }
    let classified: Vec<String> = impact
        .classifications
        .iter()
        .filter(|(tag, _)| {
            plan.basis
                .products
                .iter()
                .any(|p| p.classification.iter().any(|c| c.eq_ignore_ascii_case(tag)))
        })
        .map(|(tag, models)| format!("{tag} ({})", models.join(", ")))
        .collect();
    if !classified.is_empty() {
        let _ = writeln!(out, "  classified changes: {}", classified.join("; "));
    }
    out
}

fn model_line(m: &ModelImpact) -> String {
    let how = match m.category {
        Some(c) => c.as_str().replace('_', " "),
        None => serde_json::to_value(m.change)
            .ok()
            .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
            .unwrap_or_default(),
    };
    let columns = match &m.columns {
        Some(c) if !c.is_empty() => format!(": {}", describe_columns(c)),
        Some(_) => String::new(),
        None if m.change == sluice_engine::plan::ChangeType::Removed => String::new(),
        None => ": columns unknown (SELECT *)".to_string(),
    };
    format!("{} ({how}){columns}", m.model)
}

fn describe_columns(c: &ColumnChanges) -> String {
    let mut parts = Vec::new();
    if !c.added.is_empty() {
        parts.push(format!("added {}", c.added.join(", ")));
    }
    if !c.removed.is_empty() {
        parts.push(format!("removed {}", c.removed.join(", ")));
    }
    for r in &c.retyped {
        parts.push(format!("{} {} -> {}", r.column, r.from, r.to));
    }
    parts.join("; ")
}

/// The gates a release passed, after `sluice apply`.
pub fn gates_summary(evidence: &Evidence) -> String {
    let mut out = String::new();
    if evidence.gates.is_empty() {
        return out;
    }
    let _ = writeln!(out, "Gates of {}:", evidence.release);
    for g in &evidence.gates {
        let mark = match g.state {
            GateState::Passed => "passed",
            GateState::Failed => "FAILED",
            GateState::Pending => "pending",
            GateState::Skipped => "not enforced locally",
        };
        let _ = writeln!(out, "  {} [{mark}]: {}", g.name, g.message);
    }
    let _ = writeln!(
        out,
        "Evidence: `sluice evidence {}` (or --json)",
        evidence.release
    );
    out
}
