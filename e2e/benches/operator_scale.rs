//! The operator at scale (`make bench-operator`, release build): generated layered projects
//! already built in prod, planned through the real `sluice operator` on the test control plane
//! with PostgreSQL as the warehouse.
//!
//! Per size: Plan creation → Ready when nothing needs backfilling, flip time (the promotion of a
//! new environment: one view per model, in one transaction), the largest object the operator
//! writes, the operator's peak memory, and its API requests per Plan. Then a fleet: many Plans
//! and Promotions across many environments at once — every one converges, reconcile latency
//! p99, and the request rate once nothing changes (no hot loop).
//!
//! Then, per size, flips of the live prod while a short reader queries it every 20 ms: a
//! promotion that changes every view's grants but no view's rows (a project-wide `grants`
//! default), a promotion that gives every view new rows (a breaking change to the first layer,
//! backfilled in a dev environment beforehand so that only the flip is timed), and the rollback
//! from it — each with its total time, the time it held locks readers can notice (as `sluice`
//! reports it), and the reader's worst latency meanwhile.
//!
//! `SLUICE_BENCH_SIZES=1000,10000` picks sizes; `SLUICE_BENCH_FLEET=100x20` the fleet.

#[path = "../../operator/cli/benches/support/layered.rs"]
mod layered;
#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice_e2e::{Scenario, TestCluster};

const OPERATOR_USER: &str = "sluice-operator";

struct Bench {
    s: Scenario,
    operator: support::Operator,
    pid: u32,
}

impl Bench {
    fn start(url: String) -> Bench {
        let s = Scenario::start_with(
            TestCluster::builder()
                .user(OPERATOR_USER, "operator-token", &["system:masters"])
                .image(sluice_e2e::ImageRule::new(
                    "*sluice",
                    sluice_e2e::ImageTarget::Executable(support::sluice_bin()),
                )),
        )
        .unwrap();
        s.kubectl_ok(&[
            "apply",
            "-f",
            support::repo().join("crds").to_str().unwrap(),
        ])
        .unwrap();
        let cluster = s.local().unwrap();
        let kubeconfig = cluster.kubeconfig_path(OPERATOR_USER);
        let operator = support::Operator::start(
            &kubeconfig,
            cluster.dir(),
            &["--watch-namespace", &s.namespace],
        )
        .unwrap();
        let pid = operator.pid();
        s.apply(&support::warehouse_secret(&url)).unwrap();
        Bench { s, operator, pid }
    }

    fn requests(&self) -> usize {
        self.s
            .local()
            .unwrap()
            .requests()
            .iter()
            .filter(|r| r.user == OPERATOR_USER)
            .count()
    }

    fn json(&self, what: &str) -> Value {
        serde_json::from_str(&self.s.kubectl_ok(&["get", what, "-o", "json"]).unwrap()).unwrap()
    }

    fn phase(&self, what: &str) -> String {
        support::jsonpath(&self.s, what, "{.status.phase}")
    }

    /// Waits for `what` to reach `phase`, returning how long it took from `since`.
    fn wait_phase(&self, what: &str, phase: &str, since: Instant, timeout: Duration) -> Duration {
        loop {
            if self.phase(what) == phase {
                return since.elapsed();
            }
            assert!(
                since.elapsed() < timeout,
                "{what} did not reach {phase} within {timeout:?}:\n{}",
                self.operator.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Peak resident memory of the operator so far (VmHWM), in bytes.
    fn peak_rss(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// A metric's value from `/metrics` (the first sample whose line starts with `name`).
    fn metric(&self, name: &str) -> f64 {
        self.operator
            .metrics()
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}

fn kib(bytes: usize) -> f64 {
    bytes as f64 / 1024.0
}

/// Size of an object's status, and of the whole object, as JSON.
fn sizes(object: &Value) -> (usize, usize) {
    (object["status"].to_string().len(), object.to_string().len())
}

fn environment(name: &str) -> String {
    format!(
        "apiVersion: sluice.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: {name}\nspec:\n  warehouse:\n    secretRef: {{name: warehouse}}\n  promotion:\n    requiredApprovals: 0\n"
    )
}

fn promotion(name: &str, plan: &str) -> String {
    support::promotion(name, plan)
}

/// One size: prod already built, then a no-change plan of prod and a promotion into a new one.
fn size(models: usize) -> (tempfile::TempDir, String) {
    let project = tempfile::tempdir().unwrap();
    layered::generate(project.path(), models);
    let url = support::postgres::postgres_url();
    let started = Instant::now();
    let out = Command::new(support::sluice_bin())
        .arg("--project")
        .arg(project.path())
        .args(["--warehouse", &url, "apply", "prod", "--yes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prod_apply = started.elapsed();

    let b = Bench::start(url.clone());
    for env in ["prod", "preview"] {
        b.s.apply(&environment(env)).unwrap();
    }
    let prod_plan = support::render(project.path(), "prod", "same", None).unwrap();
    let requests_before = b.requests();
    let since = Instant::now();
    b.s.apply_server_side(&prod_plan).unwrap();
    let ready = b.wait_phase("plan/same", "Ready", since, Duration::from_secs(600));
    let requests_per_plan = b.requests() - requests_before;
    assert_eq!(
        support::jsonpath(&b.s, "plan/same", "{.status.backfill.total}"),
        "0"
    );

    // A new environment from prod: no backfill, one view per model created in one flip.
    let preview = support::render(project.path(), "preview", "preview", None).unwrap();
    b.s.apply_server_side(&preview).unwrap();
    b.wait_phase(
        "plan/preview",
        "Ready",
        Instant::now(),
        Duration::from_secs(600),
    );
    let since = Instant::now();
    b.s.apply(&promotion("preview", "preview")).unwrap();
    let promoted = b.wait_phase(
        "promotion/preview",
        "Promoted",
        since,
        Duration::from_secs(600),
    );
    let flip = b.metric("sluice_flip_duration_seconds_sum");

    let mut largest_status = 0;
    let mut largest_object = 0;
    for what in [
        "plan/same",
        "plan/preview",
        "promotion/preview",
        "environment/preview",
        "configmap/same-plan",
        "configmap/preview-plan",
    ] {
        let (status, whole) = sizes(&b.json(what));
        if !what.starts_with("configmap") {
            largest_status = largest_status.max(status);
        }
        largest_object = largest_object.max(whole);
    }
    println!(
        "| {models} | {:.1} s | {:.2} s | {:.2} s ({:.2} s to Promoted) | {:.0} KiB | {:.0} KiB | {:.0} MB | {requests_per_plan} |",
        prod_apply.as_secs_f64(),
        ready.as_secs_f64(),
        flip,
        promoted.as_secs_f64(),
        kib(largest_status),
        kib(largest_object),
        b.peak_rss() as f64 / 1_048_576.0,
    );
    (project, url)
}

/// One live flip: `sluice ARGS` on prod while a reader queries it. Returns the flip's total
/// and lock-holding time (milliseconds, from `sluice`'s report) and the reader's worst latency.
fn flip_while_read(project: &std::path::Path, url: &str, args: &[&str]) -> (f64, f64, Duration) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, url) = (stop.clone(), url.to_string());
        std::thread::spawn(move || {
            let mut wh = sluice_warehouse::warehouse::connect(&url).unwrap();
            let mut worst = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                wh.query("SELECT (SELECT count(*) FROM l0.m0), (SELECT count(*) FROM l1.m1)")
                    .unwrap();
                worst = worst.max(started.elapsed());
                std::thread::sleep(Duration::from_millis(20));
            }
            worst
        })
    };
    let out = Command::new(support::sluice_bin())
        .arg("--project")
        .arg(project)
        .args(["--warehouse", url])
        .args(args)
        .output()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let worst = reader.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let number_after = |label: &str| -> f64 {
        stderr
            .split(label)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} in: {stderr}"))
    };
    (
        number_after("flipped in "),
        number_after("exclusive locks held "),
        worst,
    )
}

/// Flips of the live prod of `project` (already built) while it is read.
fn live_flips(project: &std::path::Path, url: &str, models: usize) {
    sluice_warehouse::warehouse::connect(url)
        .unwrap()
        .execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_reader') \
             THEN CREATE ROLE bench_reader; END IF; END $$",
        )
        .unwrap();
    let config = project.join("config.yaml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("  grants:\n    select: [bench_reader]\n");
    std::fs::write(&config, text).unwrap();
    let grants = flip_while_read(project, url, &["apply", "prod", "--yes"]);
    // A breaking change to every model of the first layer: every model gets a new table.
    for n in 0..layered::WIDTH.min(models) {
        let path = layered::model_path(project, n);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("AS v FROM", "+ 1 AS v FROM")).unwrap();
    }
    sluice(project, url, &["apply", "bench_dev", "--yes"]);
    let changed = flip_while_read(project, url, &["apply", "prod", "--yes"]);
    let rollback = flip_while_read(project, url, &["rollback", "prod"]);
    let cells = |(total, held, worst): (f64, f64, Duration)| {
        format!(
            "{total:.0} ms | {held:.0} ms | {:.0} ms",
            worst.as_secs_f64() * 1000.0
        )
    };
    println!(
        "| {models} | {} | {} | {} |",
        cells(grants),
        cells(changed),
        cells(rollback)
    );
}

/// Runs `sluice ARGS` on `project` against `url`; panics with its output if it fails.
fn sluice(project: &std::path::Path, url: &str, args: &[&str]) {
    let out = Command::new(support::sluice_bin())
        .arg("--project")
        .arg(project)
        .args(["--warehouse", url])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sluice {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Many Plans and Promotions across many environments at once.
fn fleet(plans: usize, environments: usize) {
    let project = tempfile::tempdir().unwrap();
    layered::generate(project.path(), 20);
    let url = support::postgres::postgres_url();
    let b = Bench::start(url.clone());
    for e in 0..environments {
        b.s.apply(&environment(&format!("env-{e}"))).unwrap();
    }
    let started = Instant::now();
    let mut manifests = String::new();
    for p in 0..plans {
        let env = format!("env-{}", p % environments);
        manifests
            .push_str(&support::render(project.path(), &env, &format!("plan-{p}"), None).unwrap());
        manifests.push_str("---\n");
        manifests.push_str(&promotion(&format!("promote-{p}"), &format!("plan-{p}")));
        manifests.push_str("---\n");
    }
    b.s.kubectl_stdin(&["apply", "--server-side", "-f", "-"], Some(&manifests))
        .unwrap();
    // Every promotion ends: promoted, or superseded/re-planned behind another plan of its
    // environment and then promoted (same project: the later ones promote nothing new).
    let deadline = Duration::from_secs(900);
    loop {
        let phases =
            b.s.kubectl_ok(&[
                "get",
                "promotions",
                "-o",
                "jsonpath={.items[*].status.phase}",
            ])
            .unwrap();
        let done = phases
            .split_whitespace()
            .filter(|p| ["Promoted", "Superseded"].contains(p))
            .count();
        if done == plans {
            break;
        }
        assert!(
            started.elapsed() < deadline,
            "{done} of {plans} converged:\n{phases}\n{}",
            b.operator.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let converged = started.elapsed();
    let p99 = reconcile_p99(&b.operator.metrics());
    // Idle: nothing changes; the request rate must stay flat (requeues only, no hot loop).
    let window = Duration::from_secs(30);
    let first = b.requests();
    std::thread::sleep(window);
    let second = b.requests();
    std::thread::sleep(window);
    let third = b.requests();
    println!(
        "| {plans} plans and promotions, {environments} environments | {:.1} s | {:.2} s | {} / {} requests per 30 s idle | {:.0} MB |",
        converged.as_secs_f64(),
        p99,
        second - first,
        third - second,
        b.peak_rss() as f64 / 1_048_576.0,
    );
}

/// The 99th percentile of reconcile durations, from the histogram's cumulative buckets (the
/// bucket bound that covers 99% of reconciles, all kinds together).
fn reconcile_p99(metrics: &str) -> f64 {
    let mut buckets: std::collections::BTreeMap<u64, f64> = Default::default();
    let mut count = 0.0;
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("sluice_reconcile_duration_seconds"))
    {
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if line.starts_with("sluice_reconcile_duration_seconds_count") {
            count += value;
        } else if let Some(le) = line.split("le=\"").nth(1).and_then(|r| r.split('"').next()) {
            let bound = if le == "+Inf" {
                f64::MAX
            } else {
                le.parse().unwrap_or(f64::MAX)
            };
            *buckets.entry(bound.to_bits()).or_default() += value;
        }
    }
    let mut sorted: Vec<(f64, f64)> = buckets
        .into_iter()
        .map(|(b, v)| (f64::from_bits(b), v))
        .collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    sorted
        .iter()
        .find(|(_, cumulative)| *cumulative >= 0.99 * count)
        .map_or(f64::NAN, |(bound, _)| *bound)
}

fn main() {
    let sizes: Vec<usize> = std::env::var("SLUICE_BENCH_SIZES")
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|_| vec![1_000, 10_000]);
    let (plans, environments) = std::env::var("SLUICE_BENCH_FLEET")
        .ok()
        .and_then(|f| {
            let (p, e) = f.split_once('x')?;
            Some((p.parse().ok()?, e.parse().ok()?))
        })
        .unwrap_or((100, 20));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "sluice operator benchmark: layered FULL models, PostgreSQL warehouse, test control plane, {cores} cores\n"
    );
    println!(
        "| models | prod built by `sluice apply` | Plan created → Ready (nothing to backfill) | flip of a new environment (to Promoted) | largest status | largest object written | operator peak RSS | API requests per Plan |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut built = Vec::new();
    for &models in &sizes {
        built.push((models, size(models)));
    }
    println!(
        "\n| models | grants only: flip | locks held | reader's worst | every view new rows: flip | locks held | reader's worst | rollback of it: flip | locks held | reader's worst |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (models, (project, url)) in &built {
        live_flips(project.path(), url, *models);
    }
    println!("\n| fleet | all converged | reconcile p99 | idle request rate | operator peak RSS |");
    println!("|---|---:|---:|---:|---:|");
    fleet(plans, environments);
}
