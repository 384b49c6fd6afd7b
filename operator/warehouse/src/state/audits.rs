//! Audit results, per table version, audit and interval: the evidence a promotion shows
//! without anyone reading Job logs.

use std::collections::HashMap;

use sluice_engine::intervals::Interval;
use sluice_engine::snapshot::{AuditResult, quote_literal};

use super::{Result, StateError, StateStore, Tables, decode_record, encode, wanted_values};

impl StateStore<'_> {
    /// Stores audit results (a rerun of the same audit on the same interval replaces it).
    pub fn record_audit_results(&mut self, results: &[AuditResult]) -> Result<()> {
        for result in results {
            let interval = result.interval.unwrap_or(Interval::new(0, 0));
            let json = encode("audit result", &result.model, result)?;
            self.db().execute(&format!(
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

    /// The stored audit results of each of `tables`, ordered by interval and audit, in one
    /// query (tables without any are left out).
    pub fn audit_results_of(
        &mut self,
        tables: &Tables,
    ) -> Result<HashMap<(String, String), Vec<AuditResult>>> {
        let mut by_table: HashMap<(String, String), Vec<AuditResult>> = HashMap::new();
        if tables.is_empty() {
            return Ok(by_table);
        }
        let rows = self.db().query(&format!(
            "SELECT a.name, a.version, a.record FROM sluice.audit_results AS a
             JOIN {} ON a.version = wanted.value ORDER BY a.start_ms, a.audit",
            wanted_values(tables.iter().map(|(_, version)| version.as_str()))
        ))?;
        for mut row in rows {
            let [Some(name), Some(version), _] = row.as_slice() else {
                return Err(StateError::Malformed(format!("audit result row {row:?}")));
            };
            let table = (name.clone(), version.clone());
            if tables.contains(&table) {
                row.remove(1);
                let result = decode_record("audit result", &row)?;
                by_table.entry(table).or_default().push(result);
            }
        }
        Ok(by_table)
    }

    /// Every stored audit result of one table version, ordered by interval and audit.
    pub fn audit_results(&mut self, name: &str, version: &str) -> Result<Vec<AuditResult>> {
        let rows = self.db().query(&format!(
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
