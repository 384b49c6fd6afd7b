//! `kubectl sluice`: the commands, their shared flags, and exit codes. Each verb lives in its
//! own module; this file only wires them up.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, CommandFactory, Parser, Subcommand};
use clap_complete::Shell;

use super::client::{KubeFlags, Session};
use super::render::{RenderRequest, default_name, render};
use super::{approve, evidence, get, output, promote, releases, retry, status};

#[derive(Parser, Debug)]
#[command(
    name = "kubectl-sluice",
    bin_name = "kubectl sluice",
    version,
    about = "Inspect, approve, promote and roll back Sluice releases",
    after_help = "Exit codes: 0 success; 1 an error, or (status) failed, rejected, superseded or \
                  stalled; 2 (status --watch) timed out; 3 (status) awaiting approval; 4 (status \
                  without --watch) still in progress."
)]
pub struct Cli {
    #[command(flatten)]
    pub kube: KubeFlags,
    /// Never colour the output (colour is used only on a terminal, and never with $NO_COLOR).
    #[arg(long, global = true)]
    pub no_color: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show an environment, plan or promotion as a tree (no name: list them).
    #[command(visible_alias = "inspect")]
    Get(get::GetArgs),
    /// Approve a promotion, bound to the digest of the plan as it is now.
    Approve(approve::ApproveArgs),
    /// Reject a promotion, with a reason (the plan digest stays rejected for every promotion
    /// of it until the plan changes or an approver lifts it).
    Reject(approve::RejectArgs),
    /// Lift a rejection recorded for a promotion's plan digest (as an approver).
    Lift(approve::LiftArgs),
    /// Create the Promotion of a plan into its environment.
    Promote(promote::PromoteArgs),
    /// Create a Promotion that rolls an environment back to an earlier release.
    Rollback(promote::RollbackArgs),
    /// List an environment's releases, newest first.
    Releases(releases::ReleasesArgs),
    /// Show a release's evidence: changes, audits, gates, approvals, data products, rollback.
    Evidence(evidence::EvidenceArgs),
    /// Print where a promotion or plan stands; with --watch, wait until it is done.
    Status(status::StatusArgs),
    /// Delete the failed Jobs of a Failed plan, so the operator reruns only the failed work.
    Retry(retry::RetryArgs),
    /// Print the source ConfigMap and Plan manifests of a project, for a GitOps commit or
    /// `kubectl apply -f -`.
    Render(RenderArgs),
    /// Print a shell completion script (`source <(kubectl sluice completion bash)`).
    Completion {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    /// The project directory (config.yaml, models/, ...).
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub project: PathBuf,
    /// The Environment the Plan plans into.
    #[arg(long, value_name = "ENV")]
    pub environment: String,
    /// The Plan's name (default: the directory's name and the project's digest); the ConfigMap
    /// is `<name>-source`.
    #[arg(long)]
    pub name: Option<String>,
    /// Who wrote the change (the no-self-approval rule applies to them).
    #[arg(long)]
    pub author: Option<String>,
    /// Who will create the Plan (`sluice.dev/created-by`, which admission checks against the
    /// requester): default, the user the cluster says you are. For a GitOps commit, the
    /// service account that applies it (`system:serviceaccount:argocd:argocd-application-controller`).
    #[arg(long, value_name = "USER")]
    pub created_by: Option<String>,
}

/// Runs the plugin with the process's arguments.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Usage errors exit 1 as kubectl's do; 2 means "timed out" to `status`.
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Runs one command; the exit code on success.
pub async fn run(cli: Cli) -> Result<u8> {
    let color = output::use_color(cli.no_color);
    match &cli.command {
        Command::Render(args) => {
            let name = match &args.name {
                Some(name) => name.clone(),
                None => default_name(&args.project)?,
            };
            let created_by = match &args.created_by {
                Some(user) => user.clone(),
                None => super::render::current_user(&cli.kube).await?,
            };
            output::emit(&render(&RenderRequest {
                project: &args.project,
                environment: &args.environment,
                name: &name,
                namespace: cli.kube.namespace.as_deref(),
                author: args.author.as_deref(),
                created_by: &created_by,
            })?)?;
            Ok(0)
        }
        Command::Completion { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "kubectl-sluice", &mut script);
            output::emit(&String::from_utf8_lossy(&script))?;
            Ok(0)
        }
        command => {
            let session = Session::connect(&cli.kube).await?;
            match command {
                Command::Get(args) => get::run(&session, args, color).await,
                Command::Approve(args) => approve::run_approve(&session, args).await,
                Command::Reject(args) => approve::run_reject(&session, args).await,
                Command::Lift(args) => approve::run_lift(&session, args).await,
                Command::Promote(args) => promote::run_promote(&session, args).await,
                Command::Rollback(args) => promote::run_rollback(&session, args).await,
                Command::Releases(args) => releases::run(&session, args, color).await,
                Command::Evidence(args) => evidence::run(&session, args).await,
                Command::Status(args) => status::run(&session, args).await,
                Command::Retry(args) => retry::run(&session, args).await,
                Command::Render(_) | Command::Completion { .. } => unreachable!("handled above"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn kubectl_flags_go_anywhere() {
        let cli = Cli::try_parse_from([
            "kubectl-sluice",
            "approve",
            "orders-v2-prod",
            "-n",
            "shop",
            "--as",
            "alice",
            "--as-group",
            "data-owners",
            "--as-group",
            "devs",
            "--context",
            "prod-cluster",
        ])
        .unwrap();
        assert_eq!(cli.kube.namespace.as_deref(), Some("shop"));
        assert_eq!(cli.kube.as_user.as_deref(), Some("alice"));
        assert_eq!(cli.kube.as_group, ["data-owners", "devs"]);
        assert_eq!(cli.kube.context.as_deref(), Some("prod-cluster"));
    }
}
