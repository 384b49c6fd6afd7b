//! The plan registry: every plan being applied, with a heartbeat, so the janitor never drops a
//! table a live plan is building and a promotion can check what the plan promised.

use sluice_engine::plan::PreparedPlan;
use sluice_engine::snapshot::quote_literal;

use super::{Result, StateStore, decode_record, encode};
use crate::executor::ModelWork;

impl StateStore<'_> {
    /// Registers a prepared plan. Returns `false` when it was already registered (a repeated
    /// `prepare`), in which case nothing is written.
    pub fn register_plan(&mut self, plan: &PreparedPlan, now: i64) -> Result<bool> {
        let json = encode("plan", &plan.basis.id, plan)?;
        let rows = self.db().query(&format!(
            "INSERT INTO sluice.plans (id, environment, digest, created_at, heartbeat_at, record)
             VALUES ({}, {}, {}, {now}, {now}, {})
             ON CONFLICT (id) DO NOTHING RETURNING id",
            quote_literal(&plan.basis.id),
            quote_literal(&plan.basis.environment),
            quote_literal(&plan.basis.digest),
            quote_literal(&json)
        ))?;
        Ok(!rows.is_empty())
    }

    /// Marks a plan as still being worked on (and not finished, if it was).
    pub fn heartbeat_plan(&mut self, id: &str, now: i64) -> Result<()> {
        self.db().execute(&format!(
            "UPDATE sluice.plans SET heartbeat_at = {now}, finished_at = NULL WHERE id = {}",
            quote_literal(id)
        ))?;
        Ok(())
    }

    /// Marks a plan as done (promoted, abandoned or superseded): its tables are no longer
    /// protected by it.
    pub fn finish_plan(&mut self, id: &str, now: i64) -> Result<()> {
        self.db().execute(&format!(
            "UPDATE sluice.plans SET finished_at = {now} WHERE id = {} AND finished_at IS NULL",
            quote_literal(id)
        ))?;
        Ok(())
    }

    pub fn prepared_plan(&mut self, id: &str) -> Result<Option<PreparedPlan>> {
        let rows = self.db().query(&format!(
            "SELECT id, record FROM sluice.plans WHERE id = {}",
            quote_literal(id)
        ))?;
        rows.first()
            .map(|row| decode_record("plan", row))
            .transpose()
    }

    /// Plans not finished whose heartbeat is at or after `since` (seconds since the epoch).
    pub fn live_plans(&mut self, since: i64) -> Result<Vec<PreparedPlan>> {
        let rows = self.db().query(&format!(
            "SELECT id, record FROM sluice.plans
             WHERE finished_at IS NULL AND heartbeat_at >= {since} ORDER BY id"
        ))?;
        rows.iter().map(|row| decode_record("plan", row)).collect()
    }
}

/// Units of work per statement (each unit's JSON carries its model and inputs).
const WORK_CHUNK: usize = 200;

impl StateStore<'_> {
    /// Stores a plan's (or run's) units of work, so a Job anywhere can fetch its own by model
    /// (`sluice job run --plan ID --model NAME`). Storing them again replaces them.
    pub fn save_work(&mut self, plan_id: &str, work: &[ModelWork]) -> Result<()> {
        self.save_work_units(plan_id, work.iter().cloned())
    }

    /// [`Self::save_work`] for units made as they are stored ([`crate::executor::work_units`]):
    /// only one statement's worth of units and their JSON is in memory at a time.
    pub fn save_work_units(
        &mut self,
        plan_id: &str,
        work: impl IntoIterator<Item = ModelWork>,
    ) -> Result<()> {
        self.db().execute(&format!(
            "DELETE FROM sluice.plan_work WHERE plan_id = {}",
            quote_literal(plan_id)
        ))?;
        let mut rows = Vec::with_capacity(WORK_CHUNK);
        for (position, unit) in work.into_iter().enumerate() {
            let json = encode("unit of work", &unit.model, &unit)?;
            let depends = encode("unit of work", &unit.model, &unit.depends_on)?;
            rows.push(format!(
                "({}, {position}, {}, {}, {})",
                quote_literal(plan_id),
                quote_literal(&unit.model),
                quote_literal(&depends),
                quote_literal(&json)
            ));
            if rows.len() == WORK_CHUNK {
                self.insert_work_rows(&mut rows)?;
            }
        }
        self.insert_work_rows(&mut rows)
    }

    fn insert_work_rows(&mut self, rows: &mut Vec<String>) -> Result<()> {
        if !rows.is_empty() {
            self.db().execute(&format!(
                "INSERT INTO sluice.plan_work (plan_id, position, model, depends_on, record) VALUES {}",
                rows.join(", ")
            ))?;
            rows.clear();
        }
        Ok(())
    }

    /// One unit of a stored plan or run.
    pub fn work(&mut self, plan_id: &str, model: &str) -> Result<Option<ModelWork>> {
        let rows = self.db().query(&format!(
            "SELECT model, record FROM sluice.plan_work WHERE plan_id = {} AND model = {}",
            quote_literal(plan_id),
            quote_literal(model)
        ))?;
        rows.first()
            .map(|row| decode_record("unit of work", row))
            .transpose()
    }

    /// The units of a stored plan or run, in order, as (model, depends on): what an
    /// orchestrator needs without loading every unit.
    pub fn work_index(&mut self, plan_id: &str) -> Result<Vec<(String, Vec<String>)>> {
        let rows = self.db().query(&format!(
            "SELECT model, depends_on FROM sluice.plan_work WHERE plan_id = {} ORDER BY position",
            quote_literal(plan_id)
        ))?;
        rows.iter()
            .map(|row| {
                let model = row.first().cloned().flatten().unwrap_or_default();
                let depends: Vec<String> = decode_record("unit of work", row)?;
                Ok((model, depends))
            })
            .collect()
    }
}
