//! Audit results, per table version, audit and interval: the evidence a promotion shows
//! without anyone reading Job logs.

use super::{Result, StateStore, decode_record, encode};
use crate::intervals::Interval;
use crate::snapshot::{AuditResult, quote_literal};

impl StateStore<'_> {
    /// Stores audit results (a rerun of the same audit on the same interval replaces it).
    pub fn record_audit_results(&mut self, results: &[AuditResult]) -> Result<()> {
        for result in results {
            let interval = result.interval.unwrap_or(Interval::new(0, 0));
            let json = encode("audit result", &result.model, result)?;
            self.warehouse.execute(&format!(
                "INSERT INTO sluice.audit_results (name, version, audit, start_ms, end_ms, record)
                 VALUES ({}, {}, {}, {}, {}, {})
                 ON CONFLICT (name, version, audit, start_ms, end_ms)
                 DO UPDATE SET record = EXCLUDED.record",
                quote_literal(&result.model),
                quote_literal(&result.version),
                quote_literal(&result.audit),
                interval.start,
                interval.end,
                quote_literal(&json)
            ))?;
        }
        Ok(())
    }

    /// Every stored audit result of one table version, ordered by interval and audit.
    pub fn audit_results(&mut self, name: &str, version: &str) -> Result<Vec<AuditResult>> {
        let rows = self.warehouse.query(&format!(
            "SELECT name, record FROM sluice.audit_results
             WHERE name = {} AND version = {} ORDER BY start_ms, audit",
            quote_literal(name),
            quote_literal(version)
        ))?;
        rows.iter()
            .map(|row| decode_record("audit result", row))
            .collect()
    }
}
