//! Flips in progress on a warehouse without transactions (Spark): recorded before the first
//! view moves and removed in the transaction that records the release, so a flip that dies
//! half-way is found by the next attempt and its views put back (see `promote::pending`).

use serde::{Deserialize, Serialize};
use sluice_engine::snapshot::{SnapshotRef, quote_literal};

use super::{Result, StateStore, decode_record, encode};

/// A flip that has started moving an environment's views and has not committed its release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingFlip {
    pub environment: String,
    /// The environment's snapshots before the flip (what its views are put back to).
    pub old: Vec<SnapshotRef>,
    /// What the flip points them at.
    pub new: Vec<SnapshotRef>,
    /// The plan being promoted, for the person reading about an interrupted flip.
    pub plan_id: String,
    /// Seconds since the epoch.
    pub started_at: i64,
    /// `host:pid` of the process flipping: on the same host, a flip whose process is gone
    /// is known to have died without waiting out the lease.
    #[serde(default)]
    pub owner: String,
}

impl StateStore<'_> {
    /// The flip of `environment` in progress (or interrupted), if any.
    pub fn pending_flip(&mut self, environment: &str) -> Result<Option<PendingFlip>> {
        let rows = self.db().query(&format!(
            "SELECT environment, record FROM sluice.pending_flips WHERE environment = {}",
            quote_literal(environment)
        ))?;
        rows.first()
            .map(|row| decode_record("pending flip", row))
            .transpose()
    }

    /// Records a flip about to start. Fails if one is recorded already: two flips of one
    /// environment never run at once.
    pub fn start_flip(&mut self, flip: &PendingFlip) -> Result<()> {
        let json = encode("pending flip", &flip.environment, flip)?;
        self.db().execute(&format!(
            "INSERT INTO sluice.pending_flips (environment, record) VALUES ({}, {})",
            quote_literal(&flip.environment),
            quote_literal(&json)
        ))?;
        Ok(())
    }

    /// Forgets the flip of `environment`: its release is recorded, or its views are back.
    pub fn end_flip(&mut self, environment: &str) -> Result<()> {
        self.db().execute(&format!(
            "DELETE FROM sluice.pending_flips WHERE environment = {}",
            quote_literal(environment)
        ))?;
        Ok(())
    }
}
