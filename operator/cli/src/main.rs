//! The `sluice` binary: the command line on top of every layer — local plan and apply
//! (engine and warehouse), `sluice operator` (the controllers), `sluice render` (the plugin's),
//! `sluice crds` (the API contract) and `sluice job run` (what the operator's Jobs run).

mod commands;

use clap::Parser;

fn main() {
    // `SLUICE_LOG=sluice=debug` also prints how long each step took (when its span closes).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("SLUICE_LOG"))
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = commands::run(commands::Cli::parse()) {
        eprintln!("error: {e:#}");
        // What a Job's exit code tells the operator (sluice_api::jobs).
        std::process::exit(if e.downcast_ref::<commands::AuditFailed>().is_some() {
            sluice_api::jobs::EXIT_AUDIT_FAILED
        } else if sluice_warehouse::is_unavailable(&e) {
            sluice_api::jobs::EXIT_WAREHOUSE_UNAVAILABLE
        } else {
            1
        });
    }
}
