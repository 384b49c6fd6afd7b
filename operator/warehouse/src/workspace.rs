//! Opening a project and its warehouse, and computing plans against the stored state.

use std::collections::HashSet;
use std::path::Path;

use anyhow::Result;
use sluice_engine::cache::{self, queries};
use sluice_engine::graph::Dag;
use sluice_engine::plan::impact::impact;
use sluice_engine::plan::{Plan, PlanInputs, PlanOptions, build};
use sluice_engine::project;
use sluice_engine::project::Project;

use crate::state::{PlanBase, PlanState, Planning, StateStore};
use crate::state_cache::StateCache;
use crate::warehouse::{Warehouse, connect_with_state, duckdb_file};

/// Loads the project and parses its queries, reusing earlier parses kept in `cache` (a
/// project's `.sluice/cache`; `None` for a source archive that is planned once).
fn load_and_parse(root: &Path, cache: Option<&Path>) -> Result<(Project, Dag)> {
    let project = tracing::debug_span!("load project")
        .in_scope(|| project::load(root).map_err(|e| anyhow::anyhow!("{e}")))?;
    let dag = tracing::debug_span!("parse queries").in_scope(|| {
        let mut parsed = cache.map(queries::load).unwrap_or_default();
        let dag = Dag::build_with(&project, &mut parsed).map_err(|e| anyhow::anyhow!("{e}"))?;
        if let Some(dir) = cache {
            queries::save(dir, &parsed, &dag);
        }
        anyhow::Ok(dag)
    })?;
    Ok((project, dag))
}

fn connecting(url: &str, state: Option<&str>) -> Result<Box<dyn Warehouse>> {
    Ok(tracing::debug_span!("connect").in_scope(|| connect_with_state(url, state))?)
}

/// Where Sluice's state lives when not in the warehouse: `--state`, else the gateway's
/// `state_connection` when the warehouse is the gateway's too.
pub fn state_url<'a>(
    explicit_warehouse: Option<&str>,
    explicit_state: Option<&'a str>,
    configured_state: Option<&'a str>,
) -> Option<&'a str> {
    explicit_state.or(configured_state.filter(|_| explicit_warehouse.is_none()))
}

/// The URL of the project's warehouse when it can be opened before the project is loaded:
/// it is not a DuckDB file that does not exist yet (which would create it even when the
/// project turns out not to load).
/// Nor when config.yaml names a state connection, which is known only once it is read.
fn existing_warehouse(root: &Path, explicit: Option<&str>) -> Option<String> {
    let configured = match explicit {
        Some(_) => None,
        None => {
            let config = project::load_config(root).ok()?;
            if config.state.is_some() {
                return None;
            }
            config.warehouse
        }
    };
    let url = warehouse_url(root, explicit, configured.as_deref());
    match duckdb_file(&url) {
        Some(path) => path.is_file().then_some(url),
        None if url.trim().starts_with("duckdb:") => Some(url),
        None => root.is_dir().then_some(url),
    }
}

/// Loads the project, and opens its warehouse with `open`. An existing warehouse is opened
/// while the project loads: opening a DuckDB file reads its whole catalog, which for thousands
/// of tables takes as long as parsing as many model files.
fn load_alongside<T: Send>(
    root: &Path,
    warehouse: Option<&str>,
    state: Option<&str>,
    open: impl Fn(&str, Option<&str>) -> Result<T> + Sync,
) -> Result<(Project, Dag, T)> {
    let early_url = existing_warehouse(root, warehouse);
    let open = &open;
    std::thread::scope(|scope| {
        let early = early_url
            .clone()
            .map(|url| scope.spawn(move || open(&url, state)));
        let loaded = load_and_parse(root, cache::dir(root).as_deref());
        let early = early.map(|handle| handle.join().expect("opening the warehouse panicked"));
        let (project, dag) = loaded?;
        let url = warehouse_url(root, warehouse, project.config.warehouse.as_deref());
        let state = state_url(warehouse, state, project.config.state.as_deref());
        let opened = match early {
            Some(opened) if early_url.as_deref() == Some(url.as_str()) => opened?,
            _ => open(&url, state)?,
        };
        Ok((project, dag, opened))
    })
}

/// Where a preview's state comes from.
enum StateSource {
    /// An earlier read of the unchanged warehouse file.
    Cached(PlanState),
    /// The warehouse, and the cache to keep what is read from it in.
    Connected(Box<dyn Warehouse>, Option<StateCache>),
}

/// The state cache of the warehouse at `url` when it holds the state, else a connection.
fn state_source(root: &Path, url: &str, state: Option<&str>) -> Result<StateSource> {
    // The cache is keyed by the DuckDB file's identity, which says nothing of a state kept
    // elsewhere.
    let cache = match state {
        Some(_) => None,
        None => StateCache::for_warehouse(root, url),
    };
    let cached = cache
        .as_ref()
        .and_then(|c| tracing::debug_span!("cached state").in_scope(|| c.load()));
    match cached {
        Some(state) => Ok(StateSource::Cached(state)),
        None => Ok(StateSource::Connected(connecting(url, state)?, cache)),
    }
}

/// A plan computed to be shown, with what it was computed from (which a process about to
/// exit may leave to the operating system rather than free: see `sluice plan`).
pub struct Preview {
    pub plan: Plan,
    /// The environment it was diffed against.
    pub base: Option<String>,
    pub project: Project,
    pub dag: Dag,
    /// The connection, when the state was not cached.
    pub warehouse: Option<Box<dyn Warehouse>>,
}

/// A loaded project with a connection to its warehouse.
pub struct Workspace {
    pub project: Project,
    pub dag: Dag,
    pub warehouse: Box<dyn Warehouse>,
}

/// The warehouse URL: `--warehouse`, else the project's gateway, else a DuckDB file in
/// `.sluice/` of the project.
pub fn warehouse_url(root: &Path, explicit: Option<&str>, configured: Option<&str>) -> String {
    if let Some(url) = explicit.or(configured) {
        return url.to_string();
    }
    let path = root.join(".sluice").join("warehouse.duckdb");
    format!("duckdb:{}", path.display())
}

impl Workspace {
    /// Loads the project and connects to its warehouse (and to the state connection, `state`
    /// or the gateway's, when the state is kept apart).
    pub fn open(root: &Path, warehouse: Option<&str>, state: Option<&str>) -> Result<Workspace> {
        let (project, dag, warehouse) = load_alongside(root, warehouse, state, connecting)?;
        Ok(Workspace {
            project,
            dag,
            warehouse,
        })
    }

    /// The project at `root` planned against an already open warehouse (the operator's: the
    /// project comes from a source archive, the warehouse from an Environment's Secret).
    pub fn with_warehouse(root: &Path, warehouse: Box<dyn Warehouse>) -> Result<Workspace> {
        let (project, dag) = load_and_parse(root, None)?;
        Ok(Workspace {
            project,
            dag,
            warehouse,
        })
    }

    /// Just the warehouse, for commands that do not need the project's models. The
    /// project's config.yaml is still read for its gateway when there is one.
    pub fn warehouse_only(
        root: &Path,
        warehouse: Option<&str>,
        state: Option<&str>,
    ) -> Result<Box<dyn Warehouse>> {
        let config = if warehouse.is_none()
            && (root.join("config.yaml").exists() || root.join("config.yml").exists())
        {
            project::load_config(root)
                .map_err(|d| {
                    anyhow::anyhow!(
                        "{}",
                        d.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("\n")
                    )
                })
                .map(Some)?
        } else {
            None
        };
        let (configured, configured_state) = match config {
            Some(config) => (config.warehouse, config.state),
            None => (None, None),
        };
        let default_file = root.join(".sluice").join("warehouse.duckdb");
        if warehouse.is_none() && configured.is_none() && !default_file.exists() {
            anyhow::bail!(
                "no warehouse to read: {} does not exist; pass --warehouse URL, or --project DIR \
                 of a project that has been applied",
                default_file.display()
            );
        }
        let url = warehouse_url(root, warehouse, configured.as_deref());
        let state = state_url(warehouse, state, configured_state.as_deref());
        Ok(connect_with_state(&url, state)?)
    }

    /// Computes a plan, with its impact on the project's data products; also returns the
    /// name of the environment it was diffed against.
    pub fn plan(&mut self, options: &PlanOptions) -> Result<(Plan, Option<String>)> {
        plan_project(self.warehouse.as_mut(), &self.project, &self.dag, options)
    }

    /// After a command that changed the warehouse at `url` (`sluice apply`), leaves its state
    /// cached for the next `sluice plan`. The state is read and the file's identity taken
    /// while this connection still holds the file, after a checkpoint, so that closing it
    /// changes nothing more (if it does, the identity no longer matches and the cache is not
    /// used). A failure only costs the next plan a read of the warehouse.
    pub fn keep_state_for_plans(&mut self, root: &Path, url: &str) {
        if duckdb_file(url).is_none()
            || cache::dir(root).is_none()
            || self.warehouse.state_connection().is_some()
        {
            return;
        }
        let _span = tracing::debug_span!("keep state for plans").entered();
        if let Err(e) = self.warehouse.execute("CHECKPOINT") {
            tracing::debug!(error = %e, "state not cached");
            return;
        }
        let Some(cache) = StateCache::for_warehouse(root, url) else {
            return;
        };
        match StateStore::new(self.warehouse.as_mut()).plan_state(Planning::Any) {
            Ok(state) => cache.save(&state),
            Err(e) => tracing::debug!(error = %e, "state not cached"),
        }
    }

    /// A plan to show (`sluice plan`), which writes nothing but caches: the project and the
    /// warehouse are opened as in [`Workspace::open`], except that the state of a DuckDB
    /// warehouse file comes from the cache of an earlier plan while the file is unchanged.
    pub fn preview(
        root: &Path,
        warehouse: Option<&str>,
        state: Option<&str>,
        options: &PlanOptions,
    ) -> Result<Preview> {
        let (project, dag, source) = load_alongside(root, warehouse, state, |url, state| {
            state_source(root, url, state)
        })?;
        let (state, warehouse) = match source {
            StateSource::Cached(state) => (state, None),
            StateSource::Connected(mut warehouse, cache) => {
                let planning = match &cache {
                    Some(_) => Planning::Any,
                    None => Planning::One(&options.environment),
                };
                let state = tracing::debug_span!("state reads")
                    .in_scope(|| StateStore::new(warehouse.as_mut()).plan_state(planning))?;
                if let Some(cache) = cache {
                    tracing::debug_span!("cache state").in_scope(|| cache.save(&state));
                }
                (state, Some(warehouse))
            }
        };
        let (plan, base) = plan_from_state(state, &project, &dag, options)?;
        Ok(Preview {
            plan,
            base,
            project,
            dag,
            warehouse,
        })
    }
}

/// [`plan_from_state`] against the state in `warehouse`.
pub fn plan_project(
    warehouse: &mut dyn Warehouse,
    project: &Project,
    dag: &Dag,
    options: &PlanOptions,
) -> Result<(Plan, Option<String>)> {
    let state = tracing::debug_span!("state reads")
        .in_scope(|| StateStore::new(warehouse).plan_state(Planning::One(&options.environment)))?;
    plan_from_state(state, project, dag, options)
}

/// Computes a plan of `dag` against `state`, then its impact on the project's data products
/// (`products.yaml`); also returns the name of the environment it was diffed against (a new
/// environment starts from prod).
pub fn plan_from_state(
    state: PlanState,
    project: &Project,
    dag: &Dag,
    options: &PlanOptions,
) -> Result<(Plan, Option<String>)> {
    let PlanBase {
        base,
        base_snapshots,
        prod_tables,
        intervals,
        run_stats,
    } = state.for_environment(&options.environment);
    let inputs = PlanInputs {
        dag,
        audits: &project.audits,
        base: base.as_ref(),
        base_snapshots: &base_snapshots,
        intervals: &intervals,
        prod_tables: &prod_tables,
    };
    let mut plan = tracing::debug_span!("build plan").in_scope(|| build(&inputs, options))?;
    if !project.products.is_empty() {
        let changed: HashSet<&str> = plan
            .basis
            .changes
            .iter()
            .map(|c| c.model.as_str())
            .collect();
        let old: Vec<_> = base_snapshots
            .into_iter()
            .filter(|s| changed.contains(s.model.name.as_str()))
            .collect();
        plan.basis.products = project.products.clone();
        plan.basis.impact = impact(&project.products, &plan, &old, &run_stats);
        plan.basis.digest = sluice_engine::plan::digest(&plan);
    }
    Ok((plan, base.map(|b| b.name)))
}
