//! The `sluice` binary: the command line front end of the engine.

mod cli;

use clap::Parser;

fn main() {
    // `SLUICE_LOG=sluice=debug` also prints how long each step took (when its span closes).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("SLUICE_LOG"))
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = cli::run(cli::Cli::parse()) {
        eprintln!("error: {e:#}");
        let audit = e.downcast_ref::<cli::AuditFailed>().is_some();
        std::process::exit(if audit {
            sluice::controller::jobs::EXIT_AUDIT_FAILED
        } else {
            1
        });
    }
}
