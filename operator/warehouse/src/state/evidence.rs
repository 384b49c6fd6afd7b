//! The evidence kept with releases, the statistics of earlier batches (what a backfill is
//! estimated to cost), and the live release per environment behind the `sluice.current_release`
//! view that consumers and agents query.

use std::collections::HashMap;

use sluice_engine::graph::model_key;
use sluice_engine::intervals::{Interval, format_ts};
use sluice_engine::plan::impact::RunStats;
use sluice_engine::snapshot::quote_literal;

use super::{Result, StateStore, integer};

/// One row of `sluice.current_release`: the release an environment's views show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRelease {
    pub environment: String,
    pub release_id: String,
    /// `promotion` or `rollback`.
    pub kind: String,
    /// Seconds since the epoch.
    pub promoted_at: i64,
    pub promoted_by: String,
    pub plan_id: String,
    pub plan_digest: Option<String>,
    pub source_revision: Option<String>,
    pub source_digest: Option<String>,
}

fn nullable(value: Option<&str>) -> String {
    value.map_or("NULL".to_string(), quote_literal)
}

impl StateStore<'_> {
    /// Stores a release's evidence document (JSON). Like releases, evidence is written once.
    pub fn insert_evidence(
        &mut self,
        release_id: &str,
        environment: &str,
        json: &str,
    ) -> Result<()> {
        self.db().execute(&format!(
            "INSERT INTO sluice.evidence (release_id, environment, record) VALUES ({}, {}, {})",
            quote_literal(release_id),
            quote_literal(environment),
            quote_literal(json)
        ))?;
        Ok(())
    }

    /// A release's evidence document (JSON), if it has one.
    pub fn evidence(&mut self, release_id: &str) -> Result<Option<String>> {
        let rows = self.db().query(&format!(
            "SELECT record FROM sluice.evidence WHERE release_id = {}",
            quote_literal(release_id)
        ))?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten()))
    }

    /// Points `sluice.current_release` at `live` (in the caller's transaction: the flip's).
    pub fn set_live_release(&mut self, live: &LiveRelease) -> Result<()> {
        self.db().execute(&format!(
            "INSERT INTO sluice.live_releases (environment, release_id, kind, promoted_at,
                 promoted_by, plan_id, plan_digest, source_revision, source_digest)
             VALUES ({}, {}, {}, CAST({} AS TIMESTAMP), {}, {}, {}, {}, {})
             ON CONFLICT (environment) DO UPDATE SET release_id = EXCLUDED.release_id,
                 kind = EXCLUDED.kind, promoted_at = EXCLUDED.promoted_at,
                 promoted_by = EXCLUDED.promoted_by, plan_id = EXCLUDED.plan_id,
                 plan_digest = EXCLUDED.plan_digest, source_revision = EXCLUDED.source_revision,
                 source_digest = EXCLUDED.source_digest",
            quote_literal(&live.environment),
            quote_literal(&live.release_id),
            quote_literal(&live.kind),
            quote_literal(&format_ts(live.promoted_at * 1000)),
            quote_literal(&live.promoted_by),
            quote_literal(&live.plan_id),
            nullable(live.plan_digest.as_deref()),
            nullable(live.source_revision.as_deref()),
            nullable(live.source_digest.as_deref()),
        ))?;
        Ok(())
    }

    /// Forgets an environment's live release (it was dropped).
    pub fn clear_live_release(&mut self, environment: &str) -> Result<()> {
        self.db().execute(&format!(
            "DELETE FROM sluice.live_releases WHERE environment = {}",
            quote_literal(environment)
        ))?;
        Ok(())
    }

    /// Records how long one batch took and how many rows it left (a rerun replaces it).
    pub fn record_batch_stats(
        &mut self,
        name: &str,
        version: &str,
        interval: Interval,
        rows: Option<u64>,
        millis: i64,
    ) -> Result<()> {
        self.db().execute(&format!(
            "INSERT INTO sluice.batch_stats (name, version, start_ms, end_ms, rows_written, millis)
             VALUES ({}, {}, {}, {}, {}, {millis})
             ON CONFLICT (name, version, start_ms, end_ms)
             DO UPDATE SET rows_written = EXCLUDED.rows_written, millis = EXCLUDED.millis",
            quote_literal(name),
            quote_literal(version),
            interval.start,
            interval.end,
            rows.map_or("NULL".to_string(), |r| r.to_string()),
        ))?;
        Ok(())
    }

    /// Earlier batches per model (all versions), by model key.
    pub fn run_stats(&mut self) -> Result<HashMap<String, RunStats>> {
        let rows = self.db().query(
            "SELECT name, SUM(end_ms - start_ms), SUM(rows_written), COUNT(rows_written),
                 COUNT(*), SUM(millis)
             FROM sluice.batch_stats GROUP BY name",
        )?;
        let mut out = HashMap::new();
        for row in rows {
            let [Some(name), span, rows, counted, total, millis] = row.as_slice() else {
                continue;
            };
            let counted = integer(counted.as_deref(), "batch count")?;
            let total = integer(total.as_deref(), "batch count")?;
            out.insert(
                model_key(name),
                RunStats {
                    span_ms: integer(span.as_deref(), "batch span")?,
                    rows: (counted == total)
                        .then(|| integer(rows.as_deref(), "batch rows").ok())
                        .flatten()
                        .map(|r| r.max(0) as u64),
                    millis: integer(millis.as_deref(), "batch time")?,
                },
            );
        }
        Ok(out)
    }
}

impl StateStore<'_> {
    /// Rows written and milliseconds taken by the recorded batches of one table that fall in
    /// `within` (`None` rows: some batch was not counted).
    pub fn batch_totals(
        &mut self,
        name: &str,
        version: &str,
        within: &[Interval],
    ) -> Result<(Option<u64>, i64)> {
        let rows = self.db().query(&format!(
            "SELECT start_ms, end_ms, rows_written, millis FROM sluice.batch_stats
             WHERE name = {} AND version = {}",
            quote_literal(name),
            quote_literal(version)
        ))?;
        let (mut total_rows, mut counted, mut millis) = (0u64, true, 0i64);
        for row in rows {
            let start = integer(row[0].as_deref(), "batch start")?;
            let end = integer(row[1].as_deref(), "batch end")?;
            if !within.iter().any(|i| i.start <= start && end <= i.end) {
                continue;
            }
            match row[2].as_deref().and_then(|r| r.parse::<u64>().ok()) {
                Some(r) => total_rows += r,
                None => counted = false,
            }
            millis += integer(row[3].as_deref(), "batch time")?;
        }
        Ok((counted.then_some(total_rows), millis))
    }
}
