//! The `sluice` command line: plan, apply, rollback, releases, envs, janitor, demo, job.

mod demo;
mod flip;
mod impact;
mod output;
mod release;
mod unit_tests;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use flip::FlipArgs;
use release::{evidence_command, publish_lineage, source_info};
use sluice_engine::evidence::gates::local_approval_gates;
use sluice_engine::intervals::{parse_end, parse_time};
use sluice_engine::plan::PlanOptions;
use sluice_engine::snapshot::environment_name;
use sluice_warehouse::apply::{ApplyEvent, apply};
use sluice_warehouse::executor::{ModelWork, Task, WorkEvent, run_task, run_work};
use sluice_warehouse::janitor::janitor;
use sluice_warehouse::promote::{PromoteMeta, rollback};
use sluice_warehouse::run::run_environment;
use sluice_warehouse::state::StateStore;
use sluice_warehouse::workspace::Workspace;

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
    /// Warehouse URL: duckdb:PATH, postgres://USER:PASSWORD@HOST:PORT/DB or sc://HOST:PORT
    /// (Spark Connect; needs --state). Default: the
    /// project's config.yaml gateway, else duckdb:<project>/.sluice/warehouse.duckdb.
    #[arg(long, global = true, env = "SLUICE_WAREHOUSE")]
    warehouse: Option<String>,
    /// Where Sluice keeps its state when not in the warehouse itself (postgres://...). Default:
    /// the gateway's `state_connection` when the warehouse is the gateway's, else the warehouse.
    #[arg(long, global = true, env = "SLUICE_STATE")]
    state: Option<String>,
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
        #[command(flatten)]
        lineage: LineageArgs,
        #[command(flatten)]
        flip: FlipArgs,
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
        #[command(flatten)]
        flip: FlipArgs,
    },
    /// Run the project's unit tests (`tests/*.yaml`, SQLMesh's format) against the warehouse,
    /// each in a transaction that is rolled back.
    Test {
        /// Run only tests whose name contains this (repeatable).
        #[arg(long = "match", short = 'k', value_name = "TEXT")]
        only: Vec<String>,
        /// Treat "now" as this time (tests without `vars.execution_time`).
        #[arg(long, env = "SLUICE_EXECUTION_TIME")]
        execution_time: Option<String>,
    },
    /// List an environment's releases, newest first.
    Releases {
        #[arg(default_value = "prod")]
        environment: String,
        #[arg(long)]
        json: bool,
    },
    /// Show a release's evidence: changes, audits, gates, approvals, products, rollback.
    Evidence {
        /// The release id (`prod-r3`).
        release: String,
        /// Print the evidence document (docs/evidence.schema.json) as JSON.
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
    /// Run the Kubernetes operator: reconcile Environments, Plans and Promotions.
    Operator(OperatorArgs),
    /// Print the source ConfigMap and Plan manifests of the project, for `kubectl apply -f -`
    /// or a GitOps commit.
    Render {
        /// The Environment object the Plan plans into.
        #[arg(long)]
        environment: String,
        /// The Plan's name (the ConfigMap is `<name>-source`).
        #[arg(long)]
        name: String,
        #[arg(long, short = 'n')]
        namespace: Option<String>,
        /// Who wrote the change (the self-approval rule applies to them).
        #[arg(long)]
        author: Option<String>,
        /// Who will create the Plan (`sluice.dev/created-by`, checked by admission): default,
        /// the user the current kubeconfig's cluster says you are. For a GitOps commit, the
        /// service account that applies it.
        #[arg(long, value_name = "USER")]
        created_by: Option<String>,
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

#[derive(Args)]
struct OperatorArgs {
    /// How often the janitor runs for each warehouse the Environments use (`1h`, `30m`; `0`:
    /// never, run `sluice janitor` yourself).
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    janitor_interval: String,
    /// Releases per environment the janitor keeps restorable (their tables stay).
    #[arg(long, default_value_t = 5)]
    keep_releases: usize,
    /// The janitor spares tables of snapshots recorded this recently.
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    janitor_grace: String,
    /// The image backfill and run Jobs use (the operator's own image).
    #[arg(
        long,
        env = "SLUICE_JOB_IMAGE",
        default_value = "ghcr.io/sluice-dev/sluice:latest"
    )]
    job_image: String,
    /// Service account Job pods run as (they need no Kubernetes API access).
    #[arg(long, env = "SLUICE_JOB_SERVICE_ACCOUNT")]
    job_service_account: Option<String>,
    /// Retries of a failing Job (its `backoffLimit`) before the Plan fails.
    #[arg(long, default_value_t = 2)]
    job_backoff_limit: i32,
    /// Jobs of one Plan at once, unless its Environment sets `spec.concurrency`.
    #[arg(long, default_value_t = 4)]
    concurrency: u32,
    /// Watch only this namespace (repeatable; default: all namespaces).
    #[arg(long = "watch-namespace", value_name = "NAMESPACE")]
    namespaces: Vec<String>,
    /// Take a `coordination.k8s.io` Lease first, so only one replica acts.
    #[arg(long)]
    leader_elect: bool,
    /// Namespace of the Lease (default: $POD_NAMESPACE, else `default`).
    #[arg(long)]
    lease_namespace: Option<String>,
    /// Where `/metrics` is served.
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_addr: std::net::SocketAddr,
    /// Where `/healthz` and `/readyz` are served.
    #[arg(long, default_value = "0.0.0.0:8081")]
    probe_addr: std::net::SocketAddr,
    /// Let Plans fetch git sources over this protocol too (`file`, `http`; repeatable). Off by
    /// default: only https:// and ssh:// are fetched. For tests and air-gapped mirrors.
    #[arg(long = "git-allow-protocol", value_name = "PROTOCOL", value_parser = ["file", "http"])]
    git_allow_protocol: Vec<String>,
    /// A git fetch and checkout taking longer is stopped (seconds).
    #[arg(long, default_value_t = 120)]
    git_timeout_seconds: u64,
    /// The approval policy (ValidatingAdmissionPolicy and its binding) that must be installed,
    /// unchanged, before any approval counts.
    #[arg(long, default_value = "sluice-approvals")]
    approval_policy: String,
    /// Requests and limits of each Job's container, as JSON (`{"requests": {"cpu": "100m"}}`),
    /// unless its Environment sets `spec.jobs.resources`.
    #[arg(long, value_parser = parse_resources)]
    job_resources: Option<k8s_openapi::api::core::v1::ResourceRequirements>,
    /// A Job running longer is stopped and counts as failed, unless its Environment sets
    /// `spec.jobs.activeDeadlineSeconds`.
    #[arg(long, default_value_t = 21_600)]
    job_active_deadline_seconds: i64,
    /// Count approvals even where the approval policy is not installed. Anyone who may patch a
    /// Promotion can then approve in anyone's name: for clusters without
    /// ValidatingAdmissionPolicy only, with the risk accepted.
    #[arg(long)]
    accept_unverified_approvals: bool,
}

#[derive(Subcommand)]
enum JobCommand {
    /// Run a serialized task, or a model's whole unit of work, from a JSON file (or - for
    /// standard input).
    Run {
        /// One task (create, backfill batch or audit).
        #[arg(long, conflicts_with = "work", required_unless_present_any = ["work", "plan"])]
        task: Option<String>,
        /// A model's unit of work: create its table, then backfill and audit each batch not
        /// yet recorded.
        #[arg(long)]
        work: Option<String>,
        /// The unit of work of `--model` in a plan (or run) stored in the warehouse: what the
        /// operator's Jobs run.
        #[arg(long, requires = "model", conflicts_with_all = ["task", "work"])]
        plan: Option<String>,
        #[arg(long, requires = "plan")]
        model: Option<String>,
    },
}

/// Where the release's OpenLineage event goes (best effort: it never fails the apply).
#[derive(Args, Clone, Default)]
struct LineageArgs {
    /// An OpenLineage HTTP endpoint (Marquez: http://marquez:5000; `/api/v1/lineage` is added
    /// when the URL has no path).
    #[arg(long, env = "SLUICE_LINEAGE_URL")]
    lineage_url: Option<String>,
    /// Append the event as a JSON line to this file.
    #[arg(long, env = "SLUICE_LINEAGE_FILE")]
    lineage_file: Option<PathBuf>,
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
    sluice_engine::intervals::parse_duration(s).map_err(anyhow::Error::msg)
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
        Command::Plan { plan, json } => plan_command(
            &cli.project,
            cli.warehouse.as_deref(),
            cli.state.as_deref(),
            plan,
            *json,
        )?,
        Command::Apply {
            plan,
            yes,
            ttl,
            lineage,
            flip,
        } => apply_command(
            &cli.project,
            cli.warehouse.as_deref(),
            cli.state.as_deref(),
            plan,
            ApplyFlags {
                yes: *yes,
                ttl,
                lineage,
                flip,
            },
        )?,
        Command::Run {
            environment,
            execution_time: at,
        } => run_command(
            &cli.project,
            cli.warehouse.as_deref(),
            cli.state.as_deref(),
            environment,
            at.as_deref(),
        )?,
        Command::Rollback {
            environment,
            to,
            flip,
        } => rollback_command(
            &cli.project,
            cli.warehouse.as_deref(),
            cli.state.as_deref(),
            environment,
            to.as_deref(),
            flip,
        )?,
        Command::Test {
            only,
            execution_time,
        } => unit_tests::test_command(
            &cli.project,
            cli.warehouse.as_deref(),
            cli.state.as_deref(),
            only,
            execution_time.as_deref(),
        )?,
        Command::Releases { environment, json } => {
            let mut wh = Workspace::warehouse_only(
                &cli.project,
                cli.warehouse.as_deref(),
                cli.state.as_deref(),
            )?;
            let mut state = StateStore::new(wh.as_mut());
            state.init()?;
            let releases = state.releases(&environment_name(environment)?)?;
            if *json {
                println!("{}", output::releases_json(&mut state, &releases)?);
            } else {
                print!("{}", output::releases_table(environment, &releases));
            }
        }
        Command::Evidence { release, json } => evidence_command(
            &cli.project,
            cli.warehouse.as_deref(),
            cli.state.as_deref(),
            release,
            *json,
        )?,
        Command::Envs { json } => {
            let mut wh = Workspace::warehouse_only(
                &cli.project,
                cli.warehouse.as_deref(),
                cli.state.as_deref(),
            )?;
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
            let mut wh = Workspace::warehouse_only(
                &cli.project,
                cli.warehouse.as_deref(),
                cli.state.as_deref(),
            )?;
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
        Command::Operator(args) => operator_command(args)?,
        Command::Render {
            environment,
            name,
            namespace,
            author,
            created_by,
        } => {
            use sluice_plugin::render::{RenderRequest, current_user, render};
            let created_by = match created_by {
                Some(user) => user.clone(),
                None => tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(current_user(&Default::default()))?,
            };
            print!(
                "{}",
                render(&RenderRequest {
                    project: &cli.project,
                    environment,
                    name,
                    namespace: namespace.as_deref(),
                    author: author.as_deref(),
                    created_by: &created_by,
                })?
            )
        }
        Command::Job {
            job:
                JobCommand::Run {
                    task,
                    work,
                    plan,
                    model,
                },
        } => job_command(
            &cli.project,
            cli.warehouse.as_deref(),
            cli.state.as_deref(),
            JobInput {
                task: task.as_deref(),
                work: work.as_deref(),
                stored: plan.as_deref().zip(model.as_deref()),
            },
        )?,
    }
    Ok(())
}

fn plan_command(
    project: &Path,
    warehouse: Option<&str>,
    state: Option<&str>,
    args: &PlanArgs,
    json: bool,
) -> Result<()> {
    let options = args.options()?;
    let preview = Workspace::preview(project, warehouse, state, &options)?;
    tracing::debug_span!("output").in_scope(|| -> Result<()> {
        if json {
            println!("{}", output::plan_json(&preview.plan)?);
        } else {
            print!(
                "{}",
                output::plan_summary(&preview.plan, preview.base.as_deref())
            );
        }
        Ok(std::io::stdout().flush()?)
    })?;
    // The process ends here, and a plan writes nothing that needs closing: leave the parsed
    // project, the plan and the warehouse connection to the operating system rather than
    // free them piece by piece (closing a DuckDB file of 10,000 tables alone takes a tenth
    // of a second).
    std::mem::forget(preview);
    Ok(())
}

/// `sluice apply`'s own flags.
struct ApplyFlags<'a> {
    yes: bool,
    ttl: &'a str,
    lineage: &'a LineageArgs,
    flip: &'a FlipArgs,
}

fn apply_command(
    project: &Path,
    warehouse: Option<&str>,
    state: Option<&str>,
    args: &PlanArgs,
    flags: ApplyFlags,
) -> Result<()> {
    let options = args.options()?;
    let ttl = parse_duration(flags.ttl)?;
    let flip = flags.flip.policy()?;
    let yes = flags.yes;
    let mut ws = Workspace::open(project, warehouse, state)?;
    let (mut plan, base) = ws.plan(&options)?;
    plan.basis.source = Some(source_info(project)?);
    print!("{}", output::plan_summary(&plan, base.as_deref()));
    if !plan.has_changes() && !plan.has_work() && plan.basis.base_revision.is_some() {
        println!(
            "Nothing to apply: environment {} is up to date.",
            plan.basis.environment
        );
        return Ok(());
    }
    if !yes && !confirm(&format!("Apply this plan to {}?", plan.basis.environment))? {
        bail!("apply cancelled; nothing was changed");
    }
    let meta = PromoteMeta {
        created_by: current_user(),
        now: now_secs(),
        ttl: Some(ttl),
        // Locally nobody's approval can be verified: the gates that need people are recorded
        // as not enforced, and freshness is measured at the plan's execution time ("now").
        gates: local_approval_gates(&plan.basis.impact, &plan.basis.products),
        at_ms: Some(plan.basis.execution_time),
        flip,
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
    let url = sluice_warehouse::workspace::warehouse_url(
        project,
        warehouse,
        ws.project.config.warehouse.as_deref(),
    );
    if let Some(evidence) = StateStore::new(ws.warehouse.as_mut()).evidence(&release.id)? {
        let evidence = sluice_engine::evidence::decode(&evidence)?;
        print!("{}", output::gates_summary(&evidence));
        publish_lineage(ws.warehouse.as_mut(), &url, &evidence, flags.lineage);
    }
    ws.keep_state_for_plans(project, &url);
    Ok(())
}

fn rollback_command(
    project: &Path,
    warehouse: Option<&str>,
    state: Option<&str>,
    environment: &str,
    to: Option<&str>,
    flip: &FlipArgs,
) -> Result<()> {
    let environment = &environment_name(environment)?;
    let flip = flip.policy()?;
    let mut wh = Workspace::warehouse_only(project, warehouse, state)?;
    StateStore::new(wh.as_mut()).init()?;
    let meta = PromoteMeta {
        created_by: current_user(),
        now: now_secs(),
        flip,
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
    state: Option<&str>,
    environment: &str,
    at: Option<&str>,
) -> Result<()> {
    let environment = environment_name(environment)?;
    let now = execution_time(at)?;
    let mut wh = Workspace::warehouse_only(project, warehouse, state)?;
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

/// What `sluice job run` was asked to run.
struct JobInput<'a> {
    task: Option<&'a str>,
    work: Option<&'a str>,
    /// (plan id, model): a unit of work stored in the warehouse.
    stored: Option<(&'a str, &'a str)>,
}

fn job_command(
    project: &Path,
    warehouse: Option<&str>,
    state: Option<&str>,
    input: JobInput,
) -> Result<()> {
    let read = |path: &str| -> Result<String> {
        if path == "-" {
            Ok(std::io::read_to_string(std::io::stdin())?)
        } else {
            std::fs::read_to_string(path).with_context(|| format!("reading {path}"))
        }
    };
    let mut wh = Workspace::warehouse_only(project, warehouse, state)?;
    StateStore::new(wh.as_mut()).init()?;
    let work = match (input.work, input.stored) {
        (Some(path), _) => Some(
            serde_json::from_str::<ModelWork>(&read(path)?)
                .with_context(|| format!("{path} is not valid JSON for a sluice unit of work"))?,
        ),
        (None, Some((plan, model))) => Some(
            StateStore::new(wh.as_mut())
                .work(plan, model)?
                .with_context(|| {
                    format!("plan {plan} has no unit of work for model {model} in this warehouse")
                })?,
        ),
        (None, None) => None,
    };
    if let Some(work) = work {
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
            return Err(anyhow::Error::new(AuditFailed).context(format!(
                "blocking audit failed on {}: {}",
                work.model,
                outcome
                    .failures
                    .iter()
                    .map(|f| format!("{} ({} violating row(s))", f.audit, f.violations))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        return Ok(());
    }
    let path = input.task.expect("clap requires --task, --work or --plan");
    let task: Task = serde_json::from_str(&read(path)?)
        .context("the task is not valid JSON for a sluice task")?;
    eprintln!("{}", task.describe());
    let outcome = run_task(wh.as_mut(), &task)?;
    println!("{}", serde_json::to_string(&outcome)?);
    if !outcome.blocking_failures().is_empty() {
        return Err(anyhow::Error::new(AuditFailed).context("blocking audit failed"));
    }
    Ok(())
}

/// A blocking audit found rows: `sluice job run` exits with
/// `sluice_api::jobs::EXIT_AUDIT_FAILED`, so the Job fails without retrying.
#[derive(Debug, thiserror::Error)]
#[error("the data failed a blocking audit; building it again gives the same data")]
pub struct AuditFailed;

fn operator_command(args: &OperatorArgs) -> Result<()> {
    use sluice_controller::{Options, context::Settings, run};
    let options = Options {
        settings: Settings {
            job_image: args.job_image.clone(),
            backoff_limit: args.job_backoff_limit,
            concurrency: args.concurrency.max(1),
            job_service_account: args.job_service_account.clone(),
            job_resources: args.job_resources.clone(),
            job_active_deadline_seconds: args.job_active_deadline_seconds.max(60),
            git: sluice_controller::source::GitLimits {
                extra_protocols: args.git_allow_protocol.clone(),
                timeout: std::time::Duration::from_secs(args.git_timeout_seconds.max(1)),
                ..Default::default()
            },
            approval_policy: args.approval_policy.clone(),
            accept_unverified_approvals: args.accept_unverified_approvals,
            janitor: sluice_controller::janitor::JanitorSettings {
                interval: Some(
                    parse_duration(&args.janitor_interval).context("--janitor-interval")?,
                )
                .filter(|secs| *secs > 0)
                .map(|secs| std::time::Duration::from_secs(secs as u64)),
                keep_releases: args.keep_releases,
                grace: std::time::Duration::from_secs(
                    parse_duration(&args.janitor_grace)
                        .context("--janitor-grace")?
                        .max(0) as u64,
                ),
            },
        },
        namespaces: args.namespaces.clone(),
        leader_elect: args.leader_elect,
        lease_namespace: args.lease_namespace.clone(),
        metrics_addr: args.metrics_addr,
        probe_addr: args.probe_addr,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // The operator only ever stops on an error (a lost lease among them). Stop at once: no
    // teardown of the runtime, whose pooled warehouse clients cannot be dropped on it, and
    // nothing more done by a replica that is no longer the leader.
    let error = match runtime.block_on(run(options)) {
        Ok(()) => anyhow::anyhow!("the operator stopped"),
        Err(e) => e,
    };
    eprintln!("error: {error:#}");
    std::process::exit(1)
}

fn parse_resources(text: &str) -> Result<k8s_openapi::api::core::v1::ResourceRequirements> {
    serde_json::from_str(text).context(
        "--job-resources must be JSON like {\"requests\": {\"cpu\": \"100m\", \"memory\": \"256Mi\"}, \"limits\": {\"memory\": \"2Gi\"}}",
    )
}

fn crds_command(dir: Option<&Path>) -> Result<()> {
    let crds = sluice_api::crds();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for (file, yaml) in crds {
                let path = dir.join(file);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
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
