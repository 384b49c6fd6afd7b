//! Plan-time benchmark: generates layered projects of 1,000 and 10,000 models, builds prod
//! with `sluice apply`, then measures whole-process `sluice plan` wall time and peak memory
//! (max RSS from the kernel's rusage) — what a user waits for and what a Job needs.
//!
//! Run with `make bench` (release build). `SLUICE_BENCH_SIZES=1000` limits the sizes.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "support/layered.rs"]
mod layered;

use layered::{WIDTH, generate};

const RUNS: usize = 3;

/// Runs the command to completion, returning wall time and peak resident memory in bytes.
// The child is reaped by `wait4` (which also reports its rusage), not `Child::wait`.
#[allow(clippy::zombie_processes)]
fn measure(cmd: &mut Command) -> (Duration, u64) {
    let started = Instant::now();
    let child = cmd.stdout(std::process::Stdio::null()).spawn().unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; `usage` is a valid rusage to fill.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed ({status})"
    );
    (elapsed, usage.ru_maxrss as u64 * 1024)
}

fn sluice(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.arg("--project")
        .arg(root)
        .args(args)
        .args(["--execution-time", "2024-01-02"]);
    cmd
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let sizes: Vec<usize> = std::env::var("SLUICE_BENCH_SIZES")
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|_| vec![1_000, 10_000]);
    println!(
        "sluice plan benchmark: layered FULL models, {WIDTH} per layer, DuckDB warehouse, {RUNS} runs each"
    );
    println!(
        "| models | prod apply | plan (no changes) best / worst | plan peak RSS | plan after a root change | its peak RSS |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for models in sizes {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        generate(root, models);
        let (apply_time, _) = measure(&mut sluice(root, &["apply", "prod", "--yes"]));
        let mut times = Vec::new();
        let mut peak = 0;
        for _ in 0..RUNS {
            let (t, rss) = measure(&mut sluice(root, &["plan", "prod"]));
            times.push(t);
            peak = peak.max(rss);
        }
        // A breaking change to a root model: its whole downstream cone is re-categorized.
        let root_model = root.join("models/l0/m0.sql");
        let text = std::fs::read_to_string(&root_model)
            .unwrap()
            .replace("x * 0 AS v", "x * 100 AS v");
        std::fs::write(&root_model, text).unwrap();
        let (changed, changed_rss) = measure(&mut sluice(root, &["plan", "prod"]));
        times.sort();
        println!(
            "| {models} | {:.1} s | {:.2} s / {:.2} s | {:.0} MB | {:.2} s | {:.0} MB |",
            apply_time.as_secs_f64(),
            times[0].as_secs_f64(),
            times[times.len() - 1].as_secs_f64(),
            mb(peak),
            changed.as_secs_f64(),
            mb(changed_rss)
        );
    }
}
