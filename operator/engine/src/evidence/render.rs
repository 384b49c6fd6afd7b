//! Evidence as people read it (`sluice evidence RELEASE`).

use std::fmt::Write as _;

use super::{AuditOutcome, Evidence, GateState, PromiseState};
use crate::products::freshness::human_duration;

fn mark(state: GateState) -> &'static str {
    match state {
        GateState::Passed => "✔",
        GateState::Failed => "✖",
        GateState::Pending => "◌",
        GateState::Skipped => "-",
    }
}

/// A summary of the evidence: release, source, gates, approvals, products, audits, rollback.
pub fn render(e: &Evidence) -> String {
    let mut out = String::new();
    let kind = match e.kind {
        crate::snapshot::ReleaseKind::Promotion => "promotion",
        crate::snapshot::ReleaseKind::Rollback => "rollback",
    };
    let _ = writeln!(
        out,
        "Release {} of {} ({kind}), {} by {}",
        e.release, e.environment, e.promoted_at, e.promoted_by
    );
    let _ = writeln!(
        out,
        "  plan {} {}",
        e.plan.id,
        e.plan.digest.as_deref().unwrap_or("")
    );
    if let Some(source) = &e.source {
        let _ = writeln!(
            out,
            "  source {}{}",
            source.digest,
            source
                .revision
                .as_deref()
                .map(|r| format!(" at {r}"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        out,
        "  before: {} ({} models), after: {} models; {} change(s); backfill {} batch(es) of {} model(s){}",
        e.before.release.as_deref().unwrap_or("nothing"),
        e.before.snapshots.len(),
        e.after.snapshots.len(),
        e.changes.len(),
        e.backfill.intervals,
        e.backfill.models,
        match (e.backfill.rows, e.backfill.seconds) {
            (Some(rows), Some(secs)) => format!(", {rows} rows in {secs:.1}s"),
            _ => String::new(),
        }
    );
    if !e.gates.is_empty() {
        let _ = writeln!(out, "\nGates:");
        for g in &e.gates {
            let _ = writeln!(out, "  {} {}: {}", mark(g.state), g.name, g.message);
        }
    }
    let _ = writeln!(out, "\nApprovals:");
    if e.approvals.is_empty() {
        let _ = writeln!(out, "  none recorded");
    }
    for a in &e.approvals {
        let _ = writeln!(out, "  {} at {} for {}", a.user, a.at, a.digest);
    }
    if !e.products.is_empty() {
        let _ = writeln!(out, "\nProducts:");
    }
    for p in &e.products {
        let note = if p.meaning_change {
            " — MEANING CHANGE"
        } else if p.affected {
            " — changed"
        } else {
            ""
        };
        let _ = writeln!(out, "  {}{note}", p.name);
        for c in &p.checks {
            let state = match c.state {
                PromiseState::Kept => "kept",
                PromiseState::Broken => "BROKEN",
                PromiseState::None => continue,
            };
            let _ = writeln!(out, "    {} {state}: {}", c.promise, c.detail);
        }
        if p.affected && !p.consumers.is_empty() {
            let names: Vec<String> = p
                .consumers
                .iter()
                .map(|c| {
                    let kind = serde_json::to_value(c.kind).unwrap_or_default();
                    format!("{} ({})", c.name, kind.as_str().unwrap_or_default())
                })
                .collect();
            let _ = writeln!(out, "    consumers: {}", names.join(", "));
        }
    }
    let failed = e
        .audits
        .iter()
        .filter(|a| a.result != AuditOutcome::Passed)
        .count();
    let _ = writeln!(
        out,
        "\nAudits: {} run, {} passed, {failed} found rows",
        e.audits.len(),
        e.audits.len() - failed
    );
    let _ = writeln!(out, "\nRollback:");
    match &e.rollback.target {
        Some(target) => {
            let _ = writeln!(
                out,
                "  returns to {target} ({})",
                if e.rollback.ready {
                    "every table exists"
                } else {
                    "tables missing"
                }
            );
            for f in e
                .rollback
                .freshness
                .iter()
                .filter(|f| f.lag_seconds.is_some())
            {
                let _ = writeln!(
                    out,
                    "  {}: {} would be {} behind",
                    f.product,
                    f.model,
                    f.lag_seconds.map_or(String::new(), human_duration)
                );
            }
        }
        None => {
            let _ = writeln!(out, "  none: first release of {}", e.environment);
        }
    }
    out
}
