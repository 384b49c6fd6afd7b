//! The `sluice` command line: plan, apply, rollback, releases, envs, janitor, demo, job.

mod demo;
mod output;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use sluice::apply::{ApplyEvent, apply};
use sluice::executor::{ModelWork, Task, WorkEvent, run_task, run_work};
use sluice::intervals::{parse_end, parse_time};
use sluice::janitor::janitor;
use sluice::plan::PlanOptions;
use sluice::promote::{PromoteMeta, rollback};
use sluice::run::run_environment;
use sluice::snapshot::environment_name;
use sluice::state::StateStore;

use sluice::workspace::Workspace;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Reviewed, tested, approved releases of SQL models"
)]
pub struct Cli {
    /// The project directory (config.yaml, models/, audits/, seeds/).
    #[arg(long, global = true, default_value = ".", env = "SLUICE_PROJECT")]
    project: PathBuf,
    /// Warehouse URL: duckdb:PATH or postgres://USER:PASSWORD@HOST:PORT/DB. Default: the
    /// project's config.yaml gateway, else duckdb:<project>/.sluice/warehouse.duckdb.
    #[arg(long, global = true, env = "SLUICE_WAREHOUSE")]
    warehouse: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show what applying the project to an environment would change and build.
    Plan {
        #[command(flatten)]
        plan: PlanArgs,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Build what the plan needs, audit it, and promote the environment.
    Apply {
        #[command(flatten)]
        plan: PlanArgs,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        /// How long a non-prod environment lives before `janitor` drops it (e.g. 7d, 12h).
        #[arg(long, default_value = "7d")]
        ttl: String,
    },
    /// Process the intervals that became complete since the last run, for the environment's
    /// current snapshots: no plan, no promotion (like `sqlmesh run`).
    Run {
        #[arg(default_value = "prod")]
        environment: String,
        /// Treat "now" as this time (which intervals are complete).
        #[arg(long, env = "SLUICE_EXECUTION_TIME")]
        execution_time: Option<String>,
    },
    /// Point an environment back at an earlier release's tables (no backfill).
    Rollback {
        environment: String,
        /// The release to restore (default: the one the current release was made from, so
        /// each rollback steps back one release).
        #[arg(long)]
        to: Option<String>,
    },
    /// List an environment's releases, newest first.
    Releases {
        #[arg(default_value = "prod")]
        environment: String,
        #[arg(long)]
        json: bool,
    },
    /// List environments.
    Envs {
        #[arg(long)]
        json: bool,
    },
    /// Drop expired environments and tables nothing references.
    Janitor {
        /// Releases per environment whose tables stay restorable.
        #[arg(long, default_value_t = 5)]
        keep_releases: usize,
        /// Spare tables of snapshots recorded this recently (an apply may be building them).
        #[arg(long, default_value = "1h")]
        grace: String,
    },
    /// Walk through build, change, plan, apply, promote and rollback on a fresh DuckDB.
    Demo {
        /// Where to put the demo project (default: a new temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Print the CustomResourceDefinitions (or write them into a directory, one file each).
    Crds {
        /// Write `sluice.dev_<plural>.yaml` files here instead of printing them.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Run one task (used by the operator's Jobs).
    Job {
        #[command(subcommand)]
        job: JobCommand,
    },
}

#[derive(Subcommand)]
enum JobCommand {
    /// Run a serialized task, or a model's whole unit of work, from a JSON file (or - for
    /// standard input).
    Run {
        /// One task (create, backfill batch or audit).
        #[arg(long, conflicts_with = "work", required_unless_present = "work")]
        task: Option<String>,
        /// A model's unit of work: create its table, then backfill and audit each batch not
        /// yet recorded (what the operator's Jobs run).
        #[arg(long)]
        work: Option<String>,
    },
}

#[derive(Args, Clone)]
struct PlanArgs {
    /// The environment (default: prod).
    #[arg(default_value = "prod")]
    environment: String,
    /// Backfill from this date/time (YYYY-MM-DD[ HH:MM:SS]).
    #[arg(long)]
    start: Option<String>,
    /// Backfill up to this date (inclusive) or time (exclusive). Default: now.
    #[arg(long)]
    end: Option<String>,
    /// Treat "now" as this time (which intervals are complete).
    #[arg(long, env = "SLUICE_EXECUTION_TIME")]
    execution_time: Option<String>,
    /// Reuse existing tables for every change (no rebuild of history).
    #[arg(long)]
    forward_only: bool,
    /// Recompute this model's intervals in the range, and everything downstream.
    #[arg(long, value_name = "MODEL")]
    restate: Vec<String>,
}

/// "Now": `--execution-time`, else the wall clock (epoch ms).
fn execution_time(given: Option<&str>) -> Result<i64> {
    let wall = chrono::Utc::now().timestamp_millis();
    match given {
        Some(t) => parse_time(t, wall)
            .map(|t| t.0)
            .map_err(anyhow::Error::msg)
            .context("--execution-time"),
        None => Ok(wall),
    }
}

impl PlanArgs {
    fn options(&self) -> Result<PlanOptions> {
        let environment = environment_name(&self.environment)?;
        let now = execution_time(self.execution_time.as_deref())?;
        let start = self
            .start
            .as_deref()
            .map(|s| parse_time(s, now).map(|t| t.0))
            .transpose();
        let end = self.end.as_deref().map(|s| parse_end(s, now)).transpose();
        Ok(PlanOptions {
            environment,
            start: start.map_err(anyhow::Error::msg).context("--start")?,
            end: end.map_err(anyhow::Error::msg).context("--end")?,
            execution_time: now,
            forward_only: self.forward_only,
            restate: self.restate.clone(),
        })
    }
}

/// `7d`, `12h`, `30m`, `3600` (seconds) → seconds.
fn parse_duration(s: &str) -> Result<i64> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = digits
        .parse()
        .with_context(|| format!("invalid duration {s:?} (use e.g. 7d, 12h, 30m)"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => bail!("invalid duration {s:?} (use e.g. 7d, 12h, 30m)"),
    };
    Ok(n * factor)
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

fn current_user() -> String {
    std::env::var("SLUICE_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into())
}

pub fn run(cli: Cli) -> Result<()> {
    match &cli.command {
        Command::Plan { plan, json } => {
            plan_command(&cli.project, cli.warehouse.as_deref(), plan, *json)?
        }
        Command::Apply { plan, yes, ttl } => {
            apply_command(&cli.project, cli.warehouse.as_deref(), plan, *yes, ttl)?
        }
        Command::Run {
            environment,
            execution_time: at,
        } => run_command(
            &cli.project,
            cli.warehouse.as_deref(),
            environment,
            at.as_deref(),
        )?,
        Command::Rollback { environment, to } => rollback_command(
            &cli.project,
            cli.warehouse.as_deref(),
            environment,
            to.as_deref(),
        )?,
        Command::Releases { environment, json } => {
            let mut wh = Workspace::warehouse_only(&cli.project, cli.warehouse.as_deref())?;
            let mut state = StateStore::new(wh.as_mut());
            state.init()?;
            let releases = state.releases(&environment_name(environment)?)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&releases)?);
            } else {
                print!("{}", output::releases_table(environment, &releases));
            }
        }
        Command::Envs { json } => {
            let mut wh = Workspace::warehouse_only(&cli.project, cli.warehouse.as_deref())?;
            let mut state = StateStore::new(wh.as_mut());
            state.init()?;
            let envs = state.environments()?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&envs)?);
            } else {
                print!("{}", output::environments_table(&envs));
            }
        }
        Command::Janitor {
            keep_releases,
            grace,
        } => {
            let mut wh = Workspace::warehouse_only(&cli.project, cli.warehouse.as_deref())?;
            let report = janitor(
                wh.as_mut(),
                now_secs(),
                *keep_releases,
                parse_duration(grace)?,
            )?;
            for (table, reason) in &report.skipped_tables {
                eprintln!("warning: kept {table}: the database refused to drop it: {reason}");
            }
            println!(
                "Dropped {} expired environment(s){} and {} unreferenced table(s){}.",
                report.dropped_environments.len(),
                list(&report.dropped_environments),
                report.dropped_tables.len(),
                list(
                    &report
                        .dropped_tables
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                ),
            );
        }
        Command::Demo { dir } => demo::run(dir.clone())?,
        Command::Crds { dir } => crds_command(dir.as_deref())?,
        Command::Job {
            job: JobCommand::Run { task, work },
        } => job_command(
            &cli.project,
            cli.warehouse.as_deref(),
            task.as_deref(),
            work.as_deref(),
        )?,
    }
    Ok(())
}

fn plan_command(
    project: &Path,
    warehouse: Option<&str>,
    args: &PlanArgs,
    json: bool,
) -> Result<()> {
    let options = args.options()?;
    let mut ws = Workspace::open(project, warehouse)?;
    let (plan, base) = ws.plan(&options)?;
    if json {
        println!("{}", output::plan_json(&plan)?);
    } else {
        print!("{}", output::plan_summary(&plan, base.as_deref()));
    }
    Ok(())
}

fn apply_command(
    project: &Path,
    warehouse: Option<&str>,
    args: &PlanArgs,
    yes: bool,
    ttl: &str,
) -> Result<()> {
    let options = args.options()?;
    let ttl = parse_duration(ttl)?;
    let mut ws = Workspace::open(project, warehouse)?;
    let (plan, base) = ws.plan(&options)?;
    print!("{}", output::plan_summary(&plan, base.as_deref()));
    if !plan.has_changes() && !plan.has_work() && plan.base_revision.is_some() {
        println!(
            "Nothing to apply: environment {} is up to date.",
            plan.environment
        );
        return Ok(());
    }
    if !yes && !confirm(&format!("Apply this plan to {}?", plan.environment))? {
        bail!("apply cancelled; nothing was changed");
    }
    let meta = PromoteMeta {
        created_by: current_user(),
        now: now_secs(),
        ttl: Some(ttl),
        ..Default::default()
    };
    let audits = ws.project.audits.clone();
    let statements = ws.project.config.statements.clone();
    let mut reporter = output::Progress::new();
    let release = apply(
        ws.warehouse.as_mut(),
        &plan,
        &audits,
        &statements,
        meta,
        &mut |e: ApplyEvent| reporter.event(e),
    )?;
    println!(
        "Environment {} is now at release {}.",
        release.environment, release.id
    );
    Ok(())
}

fn rollback_command(
    project: &Path,
    warehouse: Option<&str>,
    environment: &str,
    to: Option<&str>,
) -> Result<()> {
    let environment = &environment_name(environment)?;
    let mut wh = Workspace::warehouse_only(project, warehouse)?;
    StateStore::new(wh.as_mut()).init()?;
    let meta = PromoteMeta {
        created_by: current_user(),
        now: now_secs(),
        ..Default::default()
    };
    let release = rollback(wh.as_mut(), environment, to, meta)?;
    println!(
        "Rolled back {environment} to the tables of {} (new release {}); no backfill was needed.",
        release.restored_release.as_deref().unwrap_or("?"),
        release.id
    );
    Ok(())
}

fn run_command(
    project: &Path,
    warehouse: Option<&str>,
    environment: &str,
    at: Option<&str>,
) -> Result<()> {
    let environment = environment_name(environment)?;
    let now = execution_time(at)?;
    let mut wh = Workspace::warehouse_only(project, warehouse)?;
    let mut reporter = output::Progress::new();
    let report = run_environment(wh.as_mut(), &environment, now, &mut |_, event| {
        reporter.work_event(event)
    })?;
    print!("{}", output::run_summary(&environment, &report));
    if !report.failures.is_empty() {
        bail!("blocking audit failed; the failing batches were not recorded and will be retried");
    }
    Ok(())
}

fn job_command(
    project: &Path,
    warehouse: Option<&str>,
    task: Option<&str>,
    work: Option<&str>,
) -> Result<()> {
    let read = |path: &str| -> Result<String> {
        if path == "-" {
            Ok(std::io::read_to_string(std::io::stdin())?)
        } else {
            std::fs::read_to_string(path).with_context(|| format!("reading {path}"))
        }
    };
    let mut wh = Workspace::warehouse_only(project, warehouse)?;
    StateStore::new(wh.as_mut()).init()?;
    if let Some(path) = work {
        let work: ModelWork = serde_json::from_str(&read(path)?)
            .with_context(|| format!("{path} is not valid JSON for a sluice unit of work"))?;
        eprintln!(
            "building {} ({} batch(es)) into {}",
            work.model,
            work.batches.len(),
            work.table()
        );
        let mut reporter = output::Progress::new();
        let outcome = run_work(wh.as_mut(), &work, &mut |e: WorkEvent| {
            reporter.work_event(e)
        })?;
        println!("{}", serde_json::to_string(&outcome)?);
        if !outcome.failures.is_empty() {
            bail!(
                "blocking audit failed on {}: {}",
                work.model,
                outcome
                    .failures
                    .iter()
                    .map(|f| format!("{} ({} violating row(s))", f.audit, f.violations))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        return Ok(());
    }
    let path = task.expect("clap requires --task or --work");
    let task: Task = serde_json::from_str(&read(path)?)
        .context("the task is not valid JSON for a sluice task")?;
    eprintln!("{}", task.describe());
    let outcome = run_task(wh.as_mut(), &task)?;
    println!("{}", serde_json::to_string(&outcome)?);
    if !outcome.blocking_failures().is_empty() {
        bail!("blocking audit failed");
    }
    Ok(())
}

fn crds_command(dir: Option<&Path>) -> Result<()> {
    let crds = sluice::k8s::crds();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for (file, yaml) in crds {
                let path = dir.join(file);
                std::fs::write(&path, yaml).with_context(|| format!("writing {}", path.display()))?;
                println!("wrote {}", path.display());
            }
        }
        None => {
            let docs: Vec<String> = crds.into_iter().map(|(_, yaml)| yaml).collect();
            print!("{}", docs.join("---\n"));
        }
    }
    Ok(())
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(" ({})", items.join(", "))
    }
}

fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("{question} — standard input is not a terminal; pass --yes to apply without asking");
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}
