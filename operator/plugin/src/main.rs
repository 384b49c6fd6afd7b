//! `kubectl-sluice`: the kubectl plugin. kubectl runs it for `kubectl sluice ...` when it is on
//! the PATH; the commands live in `sluice_plugin`.

fn main() -> std::process::ExitCode {
    sluice_plugin::cli::main()
}
