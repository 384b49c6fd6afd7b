//! Opening a project and its warehouse, and computing plans against the stored state.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use anyhow::Result;

use crate::graph::Dag;
use crate::model::{CustomAudit, Project};
use crate::plan::{Plan, PlanInputs, PlanOptions, build};
use crate::products::impact::impact;
use crate::project;
use crate::state::StateStore;
use crate::warehouse::{Warehouse, connect};

fn load_and_parse(root: &Path) -> Result<(Project, Dag)> {
    let project = tracing::debug_span!("load project")
        .in_scope(|| project::load(root).map_err(|e| anyhow::anyhow!("{e}")))?;
    let dag = tracing::debug_span!("parse queries")
        .in_scope(|| Dag::build(&project).map_err(|e| anyhow::anyhow!("{e}")))?;
    Ok((project, dag))
}

fn connecting(url: &str) -> Result<Box<dyn Warehouse>> {
    Ok(tracing::debug_span!("connect").in_scope(|| connect(url))?)
}

/// The URL of the project's warehouse when it can be opened before the project is loaded:
/// it is not a DuckDB file that does not exist yet (which would create it even when the
/// project turns out not to load).
fn existing_warehouse(root: &Path, explicit: Option<&str>) -> Option<String> {
    let configured = match explicit {
        Some(_) => None,
        None => project::load_config(root).ok()?.warehouse,
    };
    let url = warehouse_url(root, explicit, configured.as_deref());
    match url.trim().strip_prefix("duckdb:") {
        Some(path) => {
            let path = path.strip_prefix("//").unwrap_or(path);
            (path == ":memory:" || Path::new(path).is_file()).then_some(url)
        }
        None => root.is_dir().then_some(url),
    }
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
    /// Loads the project and connects to its warehouse. An existing warehouse is opened while
    /// the project loads: opening a DuckDB file reads its whole catalog, which for thousands
    /// of tables takes as long as parsing as many model files.
    pub fn open(root: &Path, warehouse: Option<&str>) -> Result<Workspace> {
        let early_url = existing_warehouse(root, warehouse);
        std::thread::scope(|scope| {
            let early = early_url
                .clone()
                .map(|url| scope.spawn(move || connecting(&url)));
            let loaded = load_and_parse(root);
            let early = early.map(|handle| handle.join().expect("connecting panicked"));
            let (project, dag) = loaded?;
            let url = warehouse_url(root, warehouse, project.config.warehouse.as_deref());
            let warehouse = match early {
                Some(connected) if early_url.as_deref() == Some(url.as_str()) => connected?,
                _ => connecting(&url)?,
            };
            Ok(Workspace {
                project,
                dag,
                warehouse,
            })
        })
    }

    /// The project at `root` planned against an already open warehouse (the operator's: the
    /// project comes from a source archive, the warehouse from an Environment's Secret).
    pub fn with_warehouse(root: &Path, warehouse: Box<dyn Warehouse>) -> Result<Workspace> {
        let (project, dag) = load_and_parse(root)?;
        Ok(Workspace {
            project,
            dag,
            warehouse,
        })
    }

    /// Just the warehouse, for commands that do not need the project's models. The
    /// project's config.yaml is still read for its gateway when there is one.
    pub fn warehouse_only(root: &Path, warehouse: Option<&str>) -> Result<Box<dyn Warehouse>> {
        let configured = if warehouse.is_none()
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
                })?
                .warehouse
        } else {
            None
        };
        let default_file = root.join(".sluice").join("warehouse.duckdb");
        if warehouse.is_none() && configured.is_none() && !default_file.exists() {
            anyhow::bail!(
                "no warehouse to read: {} does not exist; pass --warehouse URL, or --project DIR \
                 of a project that has been applied",
                default_file.display()
            );
        }
        Ok(connect(&warehouse_url(
            root,
            warehouse,
            configured.as_deref(),
        ))?)
    }

    /// Computes a plan, with its impact on the project's data products; also returns the
    /// name of the environment it was diffed against.
    pub fn plan(&mut self, options: &PlanOptions) -> Result<(Plan, Option<String>)> {
        plan_project(self.warehouse.as_mut(), &self.project, &self.dag, options)
    }
}

/// [`plan_against`], then the plan's impact on the project's data products (`products.yaml`).
pub fn plan_project(
    warehouse: &mut dyn Warehouse,
    project: &Project,
    dag: &Dag,
    options: &PlanOptions,
) -> Result<(Plan, Option<String>)> {
    let (mut plan, base) = plan_against(warehouse, dag, &project.audits, options)?;
    if project.products.is_empty() {
        return Ok((plan, base));
    }
    let mut state = StateStore::new(warehouse);
    let old = match &base {
        Some(name) => {
            let changed: HashSet<&str> = plan.changes.iter().map(|c| c.model.as_str()).collect();
            let ids: Vec<_> = state
                .environment(name)?
                .iter()
                .flat_map(|e| &e.snapshots)
                .filter(|r| changed.contains(r.name.as_str()))
                .map(|r| r.id())
                .collect();
            state.load_snapshots(&ids)?
        }
        None => Vec::new(),
    };
    let stats = state.run_stats()?;
    plan.products = project.products.clone();
    plan.impact = impact(&project.products, &plan, &old, &stats);
    plan.digest = crate::plan::digest(&plan);
    Ok((plan, base))
}

/// Computes a plan of `dag` against the environment's state in `warehouse`; also returns the
/// name of the environment it was diffed against (a new environment starts from prod).
pub fn plan_against(
    warehouse: &mut dyn Warehouse,
    dag: &Dag,
    audits: &BTreeMap<String, CustomAudit>,
    options: &PlanOptions,
) -> Result<(Plan, Option<String>)> {
    let reads = tracing::debug_span!("state reads").entered();
    let mut state = StateStore::new(warehouse);
    state.init()?;
    let own = state.environment(&options.environment)?;
    let prod = state.environment("prod")?;
    let prod_tables: HashSet<(String, String)> = prod
        .iter()
        .flat_map(|p| &p.snapshots)
        .map(|r| (r.name.clone(), r.version.clone()))
        .collect();
    let base = match own {
        Some(env) => Some(env),
        None => prod,
    };
    let refs: Vec<_> = base
        .iter()
        .flat_map(|b| b.snapshots.iter().map(|s| s.id()))
        .collect();
    let base_snapshots =
        tracing::debug_span!("load snapshots").in_scope(|| state.load_snapshots(&refs))?;
    let intervals = tracing::debug_span!("intervals").in_scope(|| state.all_intervals())?;
    drop(reads);
    let inputs = PlanInputs {
        dag,
        audits,
        base: base.as_ref(),
        base_snapshots: &base_snapshots,
        intervals: &intervals,
        prod_tables: &prod_tables,
    };
    let plan = tracing::debug_span!("build plan").in_scope(|| build(&inputs, options))?;
    Ok((plan, base.map(|b| b.name)))
}
