//! What a plan reads from the state, gathered in one value: read from the warehouse, or from a
//! copy an earlier `sluice plan` kept (see `crate::cache`), the plan is computed the same way.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sluice_engine::intervals::Interval;
use sluice_engine::plan::impact::RunStats;
use sluice_engine::snapshot::{EnvironmentRecord, Snapshot};

use super::{Result, StateStore};

/// Which environments a [`PlanState`] is read for.
#[derive(Debug, Clone, Copy)]
pub enum Planning<'a> {
    /// One environment (and prod, which a new environment starts from): what one plan needs.
    One(&'a str),
    /// Every environment, so the same state can plan any of them.
    Any,
}

/// The state a plan is computed against.
#[derive(Debug, Serialize, Deserialize)]
pub struct PlanState {
    pub environments: Vec<EnvironmentRecord>,
    /// The snapshots those environments point at: for [`Planning::One`], only the base's.
    pub snapshots: Vec<Snapshot>,
    /// Processed intervals per table (model name, version), merged and sorted.
    #[serde(with = "by_table")]
    pub intervals: HashMap<(String, String), Vec<Interval>>,
    /// What earlier batches of each model took, for the impact's backfill estimates.
    pub run_stats: HashMap<String, RunStats>,
}

/// [`PlanState`] narrowed to the environment being planned.
pub struct PlanBase {
    /// The environment itself if it exists, else prod (a new environment starts from it).
    pub base: Option<EnvironmentRecord>,
    /// The snapshots `base` points at, in its order.
    pub base_snapshots: Vec<Snapshot>,
    /// Tables (model name, version) prod points at.
    pub prod_tables: HashSet<(String, String)>,
    pub intervals: HashMap<(String, String), Vec<Interval>>,
    pub run_stats: HashMap<String, RunStats>,
}

impl PlanState {
    /// What planning `environment` uses of this state.
    pub fn for_environment(self, environment: &str) -> PlanBase {
        let find = |name: &str| self.environments.iter().find(|e| e.name == name).cloned();
        let prod = find("prod");
        let prod_tables = prod
            .iter()
            .flat_map(|p| &p.snapshots)
            .map(|r| (r.name.clone(), r.version.clone()))
            .collect();
        let base = find(environment).or(prod);
        let mut by_id: HashMap<_, _> = self.snapshots.into_iter().map(|s| (s.id(), s)).collect();
        let base_snapshots = base
            .iter()
            .flat_map(|b| &b.snapshots)
            .filter_map(|r| by_id.remove(&r.id()))
            .collect();
        PlanBase {
            base,
            base_snapshots,
            prod_tables,
            intervals: self.intervals,
            run_stats: self.run_stats,
        }
    }
}

impl StateStore<'_> {
    /// Reads what a plan needs (creating the state's tables in a new warehouse).
    pub fn plan_state(&mut self, planning: Planning) -> Result<PlanState> {
        self.init()?;
        let environments =
            tracing::debug_span!("environments").in_scope(|| self.environments_for(planning))?;
        let pointed: Vec<&EnvironmentRecord> = match planning {
            Planning::One(name) => environments
                .iter()
                .find(|e| e.name == name)
                .or_else(|| environments.iter().find(|e| e.name == "prod"))
                .into_iter()
                .collect(),
            Planning::Any => environments.iter().collect(),
        };
        let mut seen = HashSet::new();
        let ids: Vec<_> = pointed
            .iter()
            .flat_map(|e| &e.snapshots)
            .map(|r| r.id())
            .filter(|id| seen.insert(id.clone()))
            .collect();
        let snapshots =
            tracing::debug_span!("load snapshots").in_scope(|| self.load_snapshots(&ids))?;
        let intervals = tracing::debug_span!("intervals").in_scope(|| self.all_intervals())?;
        let run_stats = tracing::debug_span!("run stats").in_scope(|| self.run_stats())?;
        Ok(PlanState {
            environments,
            snapshots,
            intervals,
            run_stats,
        })
    }

    /// The environments `planning` reads.
    fn environments_for(&mut self, planning: Planning) -> Result<Vec<EnvironmentRecord>> {
        Ok(match planning {
            Planning::One(name) => {
                let own = self.environment(name)?;
                let prod = match name {
                    "prod" => None,
                    _ => self.environment("prod")?,
                };
                own.into_iter().chain(prod).collect()
            }
            Planning::Any => self.environments()?,
        })
    }
}

/// Intervals keyed by table, stored as a list: JSON object keys cannot be pairs.
mod by_table {
    use std::collections::HashMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use sluice_engine::intervals::Interval;

    type ByTable = HashMap<(String, String), Vec<Interval>>;

    pub fn serialize<S: Serializer>(map: &ByTable, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<_> = map.iter().collect();
        entries.sort();
        entries.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ByTable, D::Error> {
        let entries: Vec<((String, String), Vec<Interval>)> = Vec::deserialize(deserializer)?;
        Ok(entries.into_iter().collect())
    }
}
