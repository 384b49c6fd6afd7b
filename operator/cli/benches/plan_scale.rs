//! Engine benchmark: generates layered projects of 1,000 and 10,000 models, builds prod with
//! `sluice apply` (the first build), then measures whole-process `sluice plan` wall time and
//! peak memory (max RSS from the kernel's rusage) — what a user waits for and what a Job
//! needs — for two cases:
//!
//! - no change: the project as applied;
//! - a change set: 10 non-breaking edits (a column added) spread over the layers plus one
//!   breaking edit of a root model, so thousands of models are indirectly modified
//!   (`sluice plan dev --json`).
//!
//! Each plan is measured on its first run (after the apply, or after the edit), on repeated
//! runs (the parsed queries and the warehouse's state cached in `.sluice/cache`), and with the
//! caches turned off.
//!
//! Run with `make bench` (release build). `SLUICE_BENCH_SIZES=1000` limits the sizes,
//! `SLUICE_BENCH_RUNS=5` sets the runs per plan measurement, and `SLUICE_BENCH_DIR=DIR` keeps
//! the generated projects (and their warehouses) under `DIR/<models>` for profiling.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "support/layered.rs"]
mod layered;

use layered::{WIDTH, generate, model_path};

const NON_BREAKING_EDITS: usize = 10;

fn edit(root: &Path, n: usize, from: &str, to: &str) {
    let path = model_path(root, n);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// The change set: a column added to `NON_BREAKING_EDITS` models spread over the layers
/// (non-breaking), and a changed expression in the root model `l0.m0` (breaking), whose
/// downstream cone covers most of the project.
fn change(root: &Path, models: usize) {
    for k in 0..NON_BREAKING_EDITS {
        let n = k * models / NON_BREAKING_EDITS + WIDTH / 2 + k;
        edit(root, n, " AS v ", " AS v, 1 AS extra ");
    }
    edit(root, 0, "x * 0 AS v", "x * 100 AS v");
}

/// What one run took: wall time, CPU time (user + system: what the process itself needed,
/// whatever else the machine was doing) and peak resident memory in bytes.
#[derive(Clone, Copy)]
struct Run {
    wall: Duration,
    cpu: Duration,
    rss: u64,
}

/// Runs the command to completion and measures it.
// The child is reaped by `wait4` (which also reports its rusage), not `Child::wait`.
#[allow(clippy::zombie_processes)]
fn measure(cmd: &mut Command) -> Run {
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
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Run {
        wall: elapsed,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        rss: usage.ru_maxrss as u64 * 1024,
    }
}

/// `best / worst (least CPU)` of `runs` runs, and the highest peak RSS.
fn repeat(runs: usize, mut cmd: impl FnMut() -> Command) -> (String, u64) {
    let runs: Vec<Run> = (0..runs).map(|_| measure(&mut cmd())).collect();
    let best = runs.iter().map(|r| r.wall).min().unwrap();
    let worst = runs.iter().map(|r| r.wall).max().unwrap();
    let cpu = runs.iter().map(|r| r.cpu).min().unwrap();
    let peak = runs.iter().map(|r| r.rss).max().unwrap();
    let shown = format!("{} / {} ({} CPU)", secs(best), secs(worst), secs(cpu));
    (shown, peak)
}

/// One plan measured three ways: its first run (after the apply or the edit before it), then
/// `runs` more (what an edit-and-plan loop sees: the caches in `.sluice/cache` are warm), then
/// `runs` with the caches turned off. Returns the table's cells.
fn plan_row(runs: usize, root: &Path, args: &[&str]) -> String {
    let first = measure(&mut sluice(root, args));
    let (warm, warm_rss) = repeat(runs, || sluice(root, args));
    let (cold, cold_rss) = repeat(runs, || {
        let mut cmd = sluice(root, args);
        cmd.env("SLUICE_PLAN_CACHE", "off");
        cmd
    });
    format!(
        "{} ({} CPU), {} | {warm} | {} | {cold} | {}",
        secs(first.wall),
        secs(first.cpu),
        mb(first.rss),
        mb(warm_rss),
        mb(cold_rss)
    )
}

fn sluice(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.arg("--project")
        .arg(root)
        .args(args)
        .args(["--execution-time", "2024-01-02"]);
    cmd
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1_048_576.0)
}

fn secs(d: Duration) -> String {
    if d.as_secs() >= 10 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let sizes: Vec<usize> = std::env::var("SLUICE_BENCH_SIZES")
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|_| vec![1_000, 10_000]);
    let runs: usize = std::env::var("SLUICE_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
        .max(1);
    let keep = std::env::var_os("SLUICE_BENCH_DIR").map(std::path::PathBuf::from);
    println!(
        "sluice benchmark: layered FULL models, {WIDTH} per layer, DuckDB warehouse; plans: \
         the first run, then best / worst wall time of {runs} runs (least CPU time) with the \
         plan caches and without them (SLUICE_PLAN_CACHE=off), peak RSS the highest"
    );
    let mut applies = Vec::new();
    let mut plans = Vec::new();
    for models in sizes {
        let temp = tempfile::tempdir().unwrap();
        let root = match &keep {
            Some(dir) => {
                let root = dir.join(models.to_string());
                let _ = std::fs::remove_dir_all(&root);
                root
            }
            None => temp.path().to_path_buf(),
        };
        generate(&root, models);
        let apply = measure(&mut sluice(&root, &["apply", "prod", "--yes"]));
        applies.push(format!(
            "| {models} | {} ({} CPU) | {} |",
            secs(apply.wall),
            secs(apply.cpu),
            mb(apply.rss)
        ));
        let unchanged = plan_row(runs, &root, &["plan", "prod"]);
        plans.push(format!("| {models} | no change | {unchanged} |"));
        change(&root, models);
        let changed = plan_row(runs, &root, &["plan", "dev", "--json"]);
        let out = sluice(&root, &["plan", "dev", "--json"]).output().unwrap();
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let changes = plan["changes"].as_array().map_or(0, Vec::len);
        plans.push(format!(
            "| {models} | change set ({changes} changes) | {changed} |"
        ));
    }
    println!("\n| models | first apply to prod | its peak RSS |\n|---:|---:|---:|");
    println!("{}", applies.join("\n"));
    println!(
        "\n| models | plan | first run, its RSS | then, cached | peak RSS | caches off | peak RSS |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|");
    println!("{}", plans.join("\n"));
}
