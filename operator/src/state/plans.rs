//! The plan registry: every plan being applied, with a heartbeat, so the janitor never drops a
//! table a live plan is building and a promotion can check what the plan promised.

use super::{Result, StateStore, decode_record, encode};
use crate::plan::PreparedPlan;
use crate::snapshot::quote_literal;

impl StateStore<'_> {
    /// Registers a prepared plan. Returns `false` when it was already registered (a repeated
    /// `prepare`), in which case nothing is written.
    pub fn register_plan(&mut self, plan: &PreparedPlan, now: i64) -> Result<bool> {
        let json = encode("plan", &plan.id, plan)?;
        let rows = self.warehouse.query(&format!(
            "INSERT INTO sluice.plans (id, environment, digest, created_at, heartbeat_at, record)
             VALUES ({}, {}, {}, {now}, {now}, {})
             ON CONFLICT (id) DO NOTHING RETURNING id",
            quote_literal(&plan.id),
            quote_literal(&plan.environment),
            quote_literal(&plan.digest),
            quote_literal(&json)
        ))?;
        Ok(!rows.is_empty())
    }

    /// Marks a plan as still being worked on (and not finished, if it was).
    pub fn heartbeat_plan(&mut self, id: &str, now: i64) -> Result<()> {
        self.warehouse.execute(&format!(
            "UPDATE sluice.plans SET heartbeat_at = {now}, finished_at = NULL WHERE id = {}",
            quote_literal(id)
        ))?;
        Ok(())
    }

    /// Marks a plan as done (promoted, abandoned or superseded): its tables are no longer
    /// protected by it.
    pub fn finish_plan(&mut self, id: &str, now: i64) -> Result<()> {
        self.warehouse.execute(&format!(
            "UPDATE sluice.plans SET finished_at = {now} WHERE id = {} AND finished_at IS NULL",
            quote_literal(id)
        ))?;
        Ok(())
    }

    pub fn prepared_plan(&mut self, id: &str) -> Result<Option<PreparedPlan>> {
        let rows = self.warehouse.query(&format!(
            "SELECT id, record FROM sluice.plans WHERE id = {}",
            quote_literal(id)
        ))?;
        rows.first()
            .map(|row| decode_record("plan", row))
            .transpose()
    }

    /// Plans not finished whose heartbeat is at or after `since` (seconds since the epoch).
    pub fn live_plans(&mut self, since: i64) -> Result<Vec<PreparedPlan>> {
        let rows = self.warehouse.query(&format!(
            "SELECT id, record FROM sluice.plans
             WHERE finished_at IS NULL AND heartbeat_at >= {since} ORDER BY id"
        ))?;
        rows.iter().map(|row| decode_record("plan", row)).collect()
    }
}
