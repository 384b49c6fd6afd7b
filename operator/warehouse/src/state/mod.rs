//! Sluice's own state (snapshots, intervals, environments, releases), kept in a `sluice`
//! schema of the warehouse it describes.
//!
//! Living in the same database as the views is what lets a promotion swap every view *and*
//! record the new environment and its release in one transaction. Records are stored as JSON
//! text next to the few key columns used for lookups, and the SQL is the portable subset that
//! DuckDB and PostgreSQL both accept. The store never begins or commits a transaction itself:
//! callers decide what must be atomic, and every write is safe to repeat after a crash.

mod audits;
mod evidence;
mod flips;
mod plan_state;
mod plans;
mod records;
mod rejections;

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sluice_engine::intervals::{self, Interval};
use sluice_engine::snapshot::{Snapshot, SnapshotId, quote_literal};

use crate::warehouse::{Row, Warehouse, WarehouseError};

/// The layout version this build writes. `init` refuses state written by a newer layout and is
/// where migrations from older ones will go.
pub const LAYOUT_VERSION: i64 = 5;

/// Rows per multi-row statement: large enough to load 10,000 models in a few round trips,
/// small enough to keep each statement a reasonable size.
const CHUNK: usize = 500;

/// Ids per snapshot lookup: one statement for a 10,000-model project.
const LOAD_CHUNK: usize = 10_000;

/// Why a state operation failed. `Conflict` is the expected outcome of a stale plan; the others
/// are infrastructure or data problems.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error(
        "the sluice state in this warehouse has layout version {found}, but this sluice \
         understands only up to version {supported}: upgrade sluice"
    )]
    NewerLayout { found: i64, supported: i64 },
    #[error("{what} {key:?} in the sluice state cannot be read")]
    Decode {
        what: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{what} {key:?} cannot be encoded for the sluice state")]
    Encode {
        what: &'static str,
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}", conflict_message(environment, *expected, *found))]
    Conflict {
        environment: String,
        expected: Option<i64>,
        found: Option<i64>,
    },
    #[error("unexpected value in the sluice state: {0}")]
    Malformed(String),
}

fn conflict_message(environment: &str, expected: Option<i64>, found: Option<i64>) -> String {
    let describe = |revision: Option<i64>| match revision {
        Some(r) => format!("revision {r}"),
        None => "no environment".to_string(),
    };
    format!(
        "environment {environment:?} changed since the plan was computed: the plan expected {}, \
         the warehouse has {}; re-run `sluice plan`",
        describe(expected),
        describe(found)
    )
}

pub type Result<T> = std::result::Result<T, StateError>;

pub use evidence::LiveRelease;
pub use flips::PendingFlip;
pub use plan_state::{PlanBase, PlanState, Planning};
pub use rejections::RecordedRejection;

/// Reads and writes Sluice's state through a warehouse connection.
pub struct StateStore<'w> {
    warehouse: &'w mut dyn Warehouse,
}

impl<'w> StateStore<'w> {
    pub fn new(warehouse: &'w mut dyn Warehouse) -> StateStore<'w> {
        StateStore { warehouse }
    }

    /// The underlying connection, so a caller can run its own statements (view swaps) in the
    /// same transaction as state writes.
    pub fn warehouse(&mut self) -> &mut dyn Warehouse {
        &mut *self.warehouse
    }

    /// Where the state's own statements go: the warehouse's state connection when it keeps
    /// its state apart, else the warehouse itself.
    fn db(&mut self) -> &mut dyn Warehouse {
        if self.warehouse.state_connection().is_some() {
            return self
                .warehouse
                .state_connection()
                .expect("a state connection was just found");
        }
        &mut *self.warehouse
    }

    /// Creates the `sluice` schema and tables if missing, and migrates older layouts; safe to
    /// run on every start. Cheap when the state is already current: one query.
    pub fn init(&mut self) -> Result<()> {
        if let Ok(found) = self.layout_version() {
            if found == LAYOUT_VERSION {
                return Ok(());
            }
            if found > LAYOUT_VERSION {
                return Err(StateError::NewerLayout {
                    found,
                    supported: LAYOUT_VERSION,
                });
            }
        }
        let create = "CREATE SCHEMA IF NOT EXISTS sluice;
             CREATE TABLE IF NOT EXISTS sluice.layout_version (version BIGINT NOT NULL);
             CREATE TABLE IF NOT EXISTS sluice.snapshots (
                 name TEXT NOT NULL,
                 fingerprint TEXT NOT NULL,
                 version TEXT NOT NULL,
                 record TEXT NOT NULL,
                 PRIMARY KEY (name, fingerprint)
             );
             CREATE TABLE IF NOT EXISTS sluice.intervals (
                 name TEXT NOT NULL,
                 version TEXT NOT NULL,
                 start_ms BIGINT NOT NULL,
                 end_ms BIGINT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS intervals_by_table ON sluice.intervals (name, version);
             CREATE TABLE IF NOT EXISTS sluice.environments (
                 name TEXT PRIMARY KEY,
                 revision BIGINT NOT NULL,
                 record TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS sluice.releases (
                 id TEXT PRIMARY KEY,
                 environment TEXT NOT NULL,
                 seq BIGINT NOT NULL,
                 created_at BIGINT NOT NULL,
                 record TEXT NOT NULL,
                 number BIGINT,
                 request_id TEXT
             );
             CREATE TABLE IF NOT EXISTS sluice.plans (
                 id TEXT PRIMARY KEY,
                 environment TEXT NOT NULL,
                 digest TEXT NOT NULL,
                 created_at BIGINT NOT NULL,
                 heartbeat_at BIGINT NOT NULL,
                 finished_at BIGINT,
                 record TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS sluice.plan_work (
                 plan_id TEXT NOT NULL,
                 position BIGINT NOT NULL,
                 model TEXT NOT NULL,
                 depends_on TEXT NOT NULL,
                 record TEXT NOT NULL,
                 PRIMARY KEY (plan_id, model)
             );
             CREATE TABLE IF NOT EXISTS sluice.audit_results (
                 name TEXT NOT NULL,
                 version TEXT NOT NULL,
                 audit TEXT NOT NULL,
                 start_ms BIGINT NOT NULL,
                 end_ms BIGINT NOT NULL,
                 record TEXT NOT NULL,
                 PRIMARY KEY (name, version, audit, start_ms, end_ms)
             );
             CREATE TABLE IF NOT EXISTS sluice.environment_owners (
                 name TEXT PRIMARY KEY,
                 owner TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS sluice.evidence (
                 release_id TEXT PRIMARY KEY,
                 environment TEXT NOT NULL,
                 record TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS sluice.batch_stats (
                 name TEXT NOT NULL,
                 version TEXT NOT NULL,
                 start_ms BIGINT NOT NULL,
                 end_ms BIGINT NOT NULL,
                 rows_written BIGINT,
                 millis BIGINT NOT NULL,
                 PRIMARY KEY (name, version, start_ms, end_ms)
             );
             CREATE TABLE IF NOT EXISTS sluice.live_releases (
                 environment TEXT PRIMARY KEY,
                 release_id TEXT NOT NULL,
                 kind TEXT NOT NULL,
                 promoted_at TIMESTAMP NOT NULL,
                 promoted_by TEXT NOT NULL,
                 plan_id TEXT NOT NULL,
                 plan_digest TEXT,
                 source_revision TEXT,
                 source_digest TEXT
             );
             CREATE TABLE IF NOT EXISTS sluice.rejections (
                 environment TEXT NOT NULL,
                 digest TEXT NOT NULL,
                 record TEXT NOT NULL,
                 PRIMARY KEY (environment, digest)
             );
             CREATE TABLE IF NOT EXISTS sluice.pending_flips (
                 environment TEXT PRIMARY KEY,
                 record TEXT NOT NULL
             );
             CREATE OR REPLACE VIEW sluice.current_release AS
                 SELECT environment, release_id, kind, promoted_at, promoted_by, plan_id,
                        plan_digest, source_revision, source_digest
                 FROM sluice.live_releases;";
        // Two processes creating the schema at once on PostgreSQL: the loser sees a unique
        // violation although everything now exists, so one retry settles it.
        if self.db().execute(create).is_err() {
            self.db().execute(create)?;
        }
        self.db().execute(&format!(
            "INSERT INTO sluice.layout_version (version) SELECT {LAYOUT_VERSION}
             WHERE NOT EXISTS (SELECT 1 FROM sluice.layout_version)"
        ))?;
        let found = self.layout_version()?;
        if found > LAYOUT_VERSION {
            return Err(StateError::NewerLayout {
                found,
                supported: LAYOUT_VERSION,
            });
        }
        if found < 2 {
            // Layout 1 had no release numbers (they are the digits after `<environment>-r`)
            // nor request ids.
            self.db().execute(
                "ALTER TABLE sluice.releases ADD COLUMN IF NOT EXISTS number BIGINT;
                 ALTER TABLE sluice.releases ADD COLUMN IF NOT EXISTS request_id TEXT;
                 UPDATE sluice.releases
                 SET number = CAST(substr(id, length(environment) + 3) AS BIGINT)
                 WHERE number IS NULL;
                 UPDATE sluice.layout_version SET version = 2;",
            )?;
        }
        if found < 5 {
            // Layout 3 added evidence, batch statistics and live releases, layout 4 recorded
            // rejections, layout 5 flips in progress: created above.
            self.db().execute(&format!(
                "UPDATE sluice.layout_version SET version = {LAYOUT_VERSION}"
            ))?;
        }
        Ok(())
    }

    /// The layout version recorded in the warehouse.
    pub fn layout_version(&mut self) -> Result<i64> {
        let rows = self
            .db()
            .query("SELECT MAX(version) FROM sluice.layout_version")?;
        integer(single(rows)?.as_deref(), "layout version")
    }

    // ---- snapshots ----

    /// Inserts or replaces snapshots by id; saving the same snapshot twice is harmless.
    pub fn save_snapshots(&mut self, snapshots: &[Snapshot]) -> Result<()> {
        // One row per id (the last wins): PostgreSQL refuses to upsert a key twice in one
        // statement.
        let mut by_id: HashMap<SnapshotId, &Snapshot> = HashMap::new();
        for snapshot in snapshots {
            by_id.insert(snapshot.id(), snapshot);
        }
        let by_id: Vec<(SnapshotId, &Snapshot)> = by_id.into_iter().collect();
        // Encoded a chunk at a time: a statement's worth of JSON in memory, not the project's.
        for chunk in by_id.chunks(CHUNK) {
            let mut rows = Vec::with_capacity(chunk.len());
            for (id, snapshot) in chunk {
                let record = encode("snapshot", &id.name, snapshot)?;
                rows.push(format!(
                    "({}, {}, {}, {})",
                    quote_literal(&id.name),
                    quote_literal(&id.fingerprint),
                    quote_literal(&snapshot.version),
                    quote_literal(&record)
                ));
            }
            self.db().execute(&format!(
                "INSERT INTO sluice.snapshots (name, fingerprint, version, record) VALUES {}
                 ON CONFLICT (name, fingerprint)
                 DO UPDATE SET version = EXCLUDED.version, record = EXCLUDED.record",
                rows.join(", ")
            ))?;
        }
        Ok(())
    }

    /// The stored snapshots among `ids`, in the order asked; unknown ids are skipped.
    pub fn load_snapshots(&mut self, ids: &[SnapshotId]) -> Result<Vec<Snapshot>> {
        let wanted: HashSet<&SnapshotId> = ids.iter().collect();
        let mut found: HashMap<SnapshotId, Snapshot> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(LOAD_CHUNK) {
            // A fingerprint can be shared by models with identical definitions, so the rows
            // are checked against the exact ids before they are decoded.
            let rows = self.db().query(&format!(
                "SELECT s.name, s.fingerprint, s.record FROM sluice.snapshots AS s
                 JOIN {} ON s.fingerprint = wanted.value",
                wanted_values(chunk.iter().map(|id| id.fingerprint.as_str()))
            ))?;
            for mut row in rows {
                let [Some(name), Some(fingerprint), _] = row.as_slice() else {
                    return Err(StateError::Malformed(format!("snapshot row {row:?}")));
                };
                let id = SnapshotId {
                    name: name.clone(),
                    fingerprint: fingerprint.clone(),
                };
                if wanted.contains(&id) && !found.contains_key(&id) {
                    row.remove(1);
                    let snapshot: Snapshot = decode_record("snapshot", &row)?;
                    found.insert(id, snapshot);
                }
            }
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    /// Every stored snapshot, ordered by name and fingerprint.
    pub fn all_snapshots(&mut self) -> Result<Vec<Snapshot>> {
        let rows = self
            .db()
            .query("SELECT name, record FROM sluice.snapshots ORDER BY name, fingerprint")?;
        rows.iter()
            .map(|row| decode_record("snapshot", row))
            .collect()
    }

    /// Forgets snapshots (their intervals are kept: other snapshots may share the version).
    pub fn delete_snapshots(&mut self, ids: &[SnapshotId]) -> Result<()> {
        for chunk in ids.chunks(CHUNK) {
            self.db().execute(&format!(
                "DELETE FROM sluice.snapshots WHERE {}",
                exact_snapshot_predicate(chunk)
            ))?;
        }
        Ok(())
    }

    // ---- intervals, per physical table (model name + version) ----

    /// The processed intervals of one table, merged and sorted.
    pub fn intervals(&mut self, name: &str, version: &str) -> Result<Vec<Interval>> {
        let rows = self.db().query(&format!(
            "SELECT start_ms, end_ms FROM sluice.intervals WHERE {}",
            table_predicate(name, version)
        ))?;
        let stored = rows
            .iter()
            .map(|row| interval(&row[0], &row[1]))
            .collect::<Result<_>>()?;
        Ok(normalize(stored))
    }

    /// The processed intervals of every table, merged and sorted, in one query.
    pub fn all_intervals(&mut self) -> Result<HashMap<(String, String), Vec<Interval>>> {
        let rows = self
            .db()
            .query("SELECT name, version, start_ms, end_ms FROM sluice.intervals")?;
        let mut by_table: HashMap<(String, String), Vec<Interval>> = HashMap::new();
        for row in &rows {
            let [Some(name), Some(version), start, end] = row.as_slice() else {
                return Err(StateError::Malformed(format!("interval row {row:?}")));
            };
            by_table
                .entry((name.clone(), version.clone()))
                .or_default()
                .push(interval(start, end)?);
        }
        Ok(by_table
            .into_iter()
            .map(|(table, stored)| (table, normalize(stored)))
            .collect())
    }

    /// The processed intervals of each of `tables`, merged and sorted, in one query (tables
    /// without any are left out).
    pub fn intervals_of(
        &mut self,
        tables: &Tables,
    ) -> Result<HashMap<(String, String), Vec<Interval>>> {
        let mut by_table: HashMap<(String, String), Vec<Interval>> = HashMap::new();
        if tables.is_empty() {
            return Ok(by_table);
        }
        let rows = self.db().query(&format!(
            "SELECT i.name, i.version, i.start_ms, i.end_ms FROM sluice.intervals AS i
             JOIN {} ON i.version = wanted.value",
            wanted_values(tables.iter().map(|(_, version)| version.as_str()))
        ))?;
        for row in &rows {
            let [Some(name), Some(version), start, end] = row.as_slice() else {
                return Err(StateError::Malformed(format!("interval row {row:?}")));
            };
            let table = (name.clone(), version.clone());
            if tables.contains(&table) {
                by_table
                    .entry(table)
                    .or_default()
                    .push(interval(start, end)?);
            }
        }
        Ok(by_table
            .into_iter()
            .map(|(table, stored)| (table, normalize(stored)))
            .collect())
    }

    /// Records `added` as processed, merging it with the stored intervals it overlaps or
    /// touches, so a table's intervals stay a handful of rows however many batches ran.
    /// Adding an interval already covered changes nothing.
    ///
    /// The merged row is inserted before the rows it replaces are deleted: an interruption
    /// (or a concurrent writer merging the same rows) leaves overlapping rows, which readers
    /// merge, never a gap.
    pub fn add_interval(&mut self, name: &str, version: &str, added: Interval) -> Result<()> {
        // Touching intervals merge with it: [a, b) and [b, c) become [a, c).
        let touching = format!("start_ms <= {} AND end_ms >= {}", added.end, added.start);
        self.rewrite_intervals(name, version, added, &touching, |stored| {
            if stored
                .iter()
                .any(|i| i.start <= added.start && i.end >= added.end)
            {
                return None;
            }
            Some(vec![stored.iter().fold(added, |acc, i| {
                Interval::new(acc.start.min(i.start), acc.end.max(i.end))
            })])
        })
    }

    /// Marks `removed` as not processed (restatement), splitting stored intervals around it.
    pub fn remove_interval(&mut self, name: &str, version: &str, removed: Interval) -> Result<()> {
        let overlapping = format!("start_ms < {} AND end_ms > {}", removed.end, removed.start);
        self.rewrite_intervals(name, version, removed, &overlapping, |stored| {
            (!stored.is_empty()).then(|| {
                intervals::subtract(stored, removed)
                    .into_iter()
                    .filter(|i| i.start < i.end)
                    .collect()
            })
        })
    }

    /// Replaces the stored intervals of a table that `predicate` selects around `interval`
    /// with what `rewrite` makes of them (`None`: nothing to change). An empty `interval`
    /// changes nothing.
    fn rewrite_intervals(
        &mut self,
        name: &str,
        version: &str,
        interval: Interval,
        predicate: &str,
        rewrite: impl FnOnce(&[Interval]) -> Option<Vec<Interval>>,
    ) -> Result<()> {
        if interval.start >= interval.end {
            return Ok(());
        }
        let stored = self.stored_intervals(name, version, predicate)?;
        match rewrite(&stored) {
            Some(replacement) => self.replace_intervals(name, version, &stored, &replacement),
            None => Ok(()),
        }
    }

    /// Forgets every interval of a table (it was dropped or rebuilt from scratch).
    pub fn delete_intervals(&mut self, name: &str, version: &str) -> Result<()> {
        self.db().execute(&format!(
            "DELETE FROM sluice.intervals WHERE {}",
            table_predicate(name, version)
        ))?;
        Ok(())
    }

    fn stored_intervals(
        &mut self,
        name: &str,
        version: &str,
        filter: &str,
    ) -> Result<Vec<Interval>> {
        let rows = self.db().query(&format!(
            "SELECT start_ms, end_ms FROM sluice.intervals WHERE {} AND {filter}",
            table_predicate(name, version)
        ))?;
        rows.iter().map(|row| interval(&row[0], &row[1])).collect()
    }

    /// Inserts `new` rows, then deletes the `old` ones (see `add_interval` for why that order).
    /// Callers guarantee no row of `new` equals a row of `old`.
    fn replace_intervals(
        &mut self,
        name: &str,
        version: &str,
        old: &[Interval],
        new: &[Interval],
    ) -> Result<()> {
        let mut sql = String::new();
        if !new.is_empty() {
            let values: Vec<String> = new
                .iter()
                .map(|i| {
                    format!(
                        "({}, {}, {}, {})",
                        quote_literal(name),
                        quote_literal(version),
                        i.start,
                        i.end
                    )
                })
                .collect();
            sql.push_str(&format!(
                "INSERT INTO sluice.intervals (name, version, start_ms, end_ms) VALUES {};\n",
                values.join(", ")
            ));
        }
        if !old.is_empty() {
            let rows: Vec<String> = old
                .iter()
                .map(|i| format!("(start_ms = {} AND end_ms = {})", i.start, i.end))
                .collect();
            sql.push_str(&format!(
                "DELETE FROM sluice.intervals WHERE {} AND ({})",
                table_predicate(name, version),
                rows.join(" OR ")
            ));
        }
        self.db().execute(&sql)?;
        Ok(())
    }
}

/// `(SELECT DISTINCT ...) AS wanted` with one `value` column holding each of `values`, to
/// join with. The values travel as one string the database splits: a list of thousands of
/// literals costs DuckDB more to parse than the query takes to run. For hashes and versions,
/// which never contain a comma.
pub(crate) fn wanted_values<'v>(values: impl Iterator<Item = &'v str>) -> String {
    let distinct: BTreeSet<&str> = values.collect();
    let list = distinct.into_iter().collect::<Vec<_>>().join(",");
    format!(
        "(SELECT DISTINCT unnest(string_to_array({}, ',')) AS value) AS wanted",
        quote_literal(&list)
    )
}

/// Physical tables as (model name, table version).
pub type Tables = HashSet<(String, String)>;

fn table_predicate(name: &str, version: &str) -> String {
    format!(
        "name = {} AND version = {}",
        quote_literal(name),
        quote_literal(version)
    )
}

fn normalize(stored: Vec<Interval>) -> Vec<Interval> {
    intervals::merge(stored.into_iter().filter(|i| i.start < i.end).collect())
}

pub(crate) fn encode<T: Serialize>(what: &'static str, key: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|source| StateError::Encode {
        what,
        key: key.to_string(),
        source,
    })
}

/// Decodes a `(key, record)` row; the key only serves the error message.
pub(crate) fn decode_record<T: DeserializeOwned>(what: &'static str, row: &Row) -> Result<T> {
    let [key, Some(record)] = row.as_slice() else {
        return Err(StateError::Malformed(format!("{what} row {row:?}")));
    };
    serde_json::from_str(record).map_err(|source| StateError::Decode {
        what,
        key: key.clone().unwrap_or_default(),
        source,
    })
}

fn single(rows: Vec<Row>) -> Result<Option<String>> {
    match rows.as_slice() {
        [row] if row.len() == 1 => Ok(row[0].clone()),
        _ => Err(StateError::Malformed(format!(
            "expected one value, got {rows:?}"
        ))),
    }
}

pub(crate) fn integer(text: Option<&str>, what: &str) -> Result<i64> {
    text.and_then(|t| t.parse().ok())
        .ok_or_else(|| StateError::Malformed(format!("{what} {text:?} is not an integer")))
}

fn interval(start: &Option<String>, end: &Option<String>) -> Result<Interval> {
    Ok(Interval::new(
        integer(start.as_deref(), "interval start")?,
        integer(end.as_deref(), "interval end")?,
    ))
}

/// Rows whose (name, fingerprint) is exactly one of `ids`.
fn exact_snapshot_predicate(ids: &[SnapshotId]) -> String {
    if ids.is_empty() {
        return "FALSE".to_string();
    }
    let terms: Vec<String> = ids
        .iter()
        .map(|id| {
            format!(
                "(name = {} AND fingerprint = {})",
                quote_literal(&id.name),
                quote_literal(&id.fingerprint)
            )
        })
        .collect();
    terms.join(" OR ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_message_names_both_revisions() {
        let error = StateError::Conflict {
            environment: "prod".into(),
            expected: Some(3),
            found: Some(4),
        };
        let message = error.to_string();
        assert!(message.contains("\"prod\""), "{message}");
        assert!(
            message.contains("revision 3") && message.contains("revision 4"),
            "{message}"
        );
        assert!(message.contains("re-run `sluice plan`"), "{message}");
    }
}
