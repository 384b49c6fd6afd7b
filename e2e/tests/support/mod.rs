//! What the operator's end-to-end tests share: a cluster whose `*sluice` image runs the real
//! `sluice` binary, a PostgreSQL warehouse, the operator as a real process, and `psql`.
#![allow(dead_code)]

pub mod argocd;
pub mod helm;
#[path = "../../../operator/cli/tests/support/mod.rs"]
pub mod postgres;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use sluice_e2e::{ImageRule, ImageTarget, Scenario, TestCluster, TestClusterBuilder};

pub const MINUTE: Duration = Duration::from_secs(60);

/// Flux's GitRepository kind, so kubectl can resolve it (a cluster with Flux has the real one; the
/// operator reads only `status.artifact`).
pub const FLUX_GITREPOSITORY_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gitrepositories.source.toolkit.fluxcd.io}
spec:
  group: source.toolkit.fluxcd.io
  scope: Namespaced
  names: {plural: gitrepositories, singular: gitrepository, kind: GitRepository}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

/// The image Jobs run in these tests (mapped to the local `sluice` binary).
pub const IMAGE: &str = "ghcr.io/sluice-dev/sluice:e2e";

/// The `sluice` binary cargo built next to this test.
pub fn sluice_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = dir.join("sluice");
    assert!(
        bin.exists(),
        "{} does not exist: build it first (`cargo build -p sluice`; `make test` does)",
        bin.display()
    );
    bin
}

/// The repository's root (for `config/samples`).
pub fn repo() -> PathBuf {
    std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("..")
}

/// A cluster builder whose kubelet runs `*sluice` images as the local binary.
pub fn cluster() -> TestClusterBuilder {
    TestCluster::builder()
        .image(ImageRule::new(
            "*sluice",
            ImageTarget::Executable(sluice_bin()),
        ))
        .retry_delay(Duration::from_millis(200))
}

/// The operator, running as a real process against the cluster; killed when dropped.
pub struct Operator {
    child: std::sync::Mutex<Child>,
    log: PathBuf,
    pub metrics_port: u16,
}

impl Operator {
    /// Starts `sluice operator` with `kubeconfig`, plus `args`.
    pub fn start(kubeconfig: &Path, dir: &Path, args: &[&str]) -> Result<Operator> {
        Operator::start_with(kubeconfig, dir, args, &[])
    }

    /// Starts it with extra environment variables (e.g. `SLUICE_FAILPOINT`); its log goes to
    /// a file of its own, kept for failure messages.
    pub fn start_with(
        kubeconfig: &Path,
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Operator> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let log = dir.join(format!("operator-{}-{n}.log", std::process::id()));
        let metrics_port = free_port();
        let probe_port = free_port();
        let child = Command::new(sluice_bin())
            .arg("operator")
            .args(["--job-image", IMAGE])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args(["--probe-addr", &format!("127.0.0.1:{probe_port}")])
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("SLUICE_LOG", "info,kube=warn,postgres=warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        Ok(Operator {
            child: std::sync::Mutex::new(child),
            log,
            metrics_port,
        })
    }

    /// Waits up to `timeout` for the process to end; its exit status, if it did.
    pub fn wait_exit(&self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child().try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn child(&self) -> std::sync::MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends a signal (`KILL`, `STOP`, `CONT`).
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status();
    }

    pub fn pid(&self) -> u32 {
        self.child().id()
    }

    /// What the operator logged so far (for failure messages).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `/metrics`, as text.
    pub fn metrics(&self) -> String {
        let out = Command::new("curl")
            .args([
                "-s",
                &format!("http://127.0.0.1:{}/metrics", self.metrics_port),
            ])
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    pub fn kill(&self) {
        let mut child = self.child();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs `psql` against `url` and returns its unaligned, tuples-only output lines.
pub fn psql(url: &str, sql: &str) -> Result<Vec<String>> {
    let bin = ["/usr/lib/postgresql/15/bin/psql", "psql"]
        .into_iter()
        .find(|p| Path::new(p).exists() || *p == "psql")
        .unwrap_or("psql");
    let out = Command::new(bin)
        .args([url, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()?;
    if !out.status.success() {
        bail!(
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

/// Whether a relation exists in the warehouse.
pub fn exists(url: &str, relation: &str) -> bool {
    psql(
        url,
        &format!("SELECT to_regclass('{relation}') IS NOT NULL"),
    )
    .map(|r| r.first().map(String::as_str) == Some("t"))
    .unwrap_or(false)
}

/// The user these tests apply manifests as (the local cluster's `admin`, or whoever the
/// kubeconfig of `SLUICE_E2E_KUBECONFIG` authenticates): admission requires a new Plan or
/// Promotion to name its creator in `sluice.dev/created-by`, and that is who creates them.
pub fn creator() -> String {
    static CREATOR: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CREATOR
        .get_or_init(|| {
            let Some(kubeconfig) = std::env::var_os("SLUICE_E2E_KUBECONFIG") else {
                return "admin".to_string();
            };
            let out = Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .args([
                    "auth",
                    "whoami",
                    "-o",
                    "jsonpath={.status.userInfo.username}",
                ])
                .output()
                .expect("kubectl runs");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        })
        .clone()
}

/// `manifests` (one or more YAML documents) with `sluice.dev/created-by: <creator()>` on every
/// Plan and Promotion that does not name a creator (or names the samples' placeholder `YOU`):
/// what `kubectl sluice` writes for you.
pub fn with_creator(manifests: &str) -> String {
    let mut out = Vec::new();
    for doc in manifests.split("\n---").filter(|d| !d.trim().is_empty()) {
        let mut value: serde_json::Value = serde_saphyr::from_str(doc).expect("a YAML manifest");
        let ours = value["apiVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("sluice.dev/"))
            && matches!(value["kind"].as_str(), Some("Plan" | "Promotion"));
        let named = &value["metadata"]["annotations"]["sluice.dev/created-by"];
        if ours && (named.is_null() || named == "YOU") {
            if !value["metadata"]["annotations"].is_object() {
                value["metadata"]["annotations"] = serde_json::json!({});
            }
            value["metadata"]["annotations"]["sluice.dev/created-by"] = creator().into();
        }
        out.push(serde_saphyr::to_string(&value).expect("serializable"));
    }
    out.join("---\n")
}

/// A sample manifest from `config/samples/operator`, with its creator named.
pub fn sample_manifest(file: &str) -> String {
    with_creator(&std::fs::read_to_string(sample(file)).expect("the sample exists"))
}

/// A Promotion of `plan`, named `name`, created by the tests' user.
pub fn promotion(name: &str, plan: &str) -> String {
    with_creator(&format!(
        "apiVersion: sluice.dev/v1alpha1\nkind: Promotion\nmetadata:\n  name: {name}\nspec:\n  plan: {plan}\n"
    ))
}

/// `sluice render` of a project, for `kubectl apply -f -`, created by the tests' user.
pub fn render(
    project: &Path,
    environment: &str,
    name: &str,
    author: Option<&str>,
) -> Result<String> {
    let mut cmd = Command::new(sluice_bin());
    cmd.arg("--project").arg(project).args([
        "render",
        "--environment",
        environment,
        "--name",
        name,
        "--created-by",
        &creator(),
    ]);
    if let Some(author) = author {
        cmd.args(["--author", author]);
    }
    let out = cmd.output()?;
    if !out.status.success() {
        bail!(
            "sluice render failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Polls `f` every 200 ms until it returns `Some`, failing with `what` and `context()` after
/// `timeout`.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    context: impl Fn() -> String,
    mut f: impl FnMut() -> Option<T>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                context()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `kubectl get <what> -o jsonpath=<path>` in the scenario's namespace ("" when absent).
pub fn jsonpath(s: &Scenario, what: &str, path: &str) -> String {
    s.kubectl(&["get", what, "-o", &format!("jsonpath={path}")])
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// A copy of a sample project in a temporary directory, to edit.
pub fn copy_project(from: &Path) -> Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    copy_dir(from, dir.path())?;
    Ok(dir)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            if entry.file_name() != ".sluice" {
                copy_dir(&entry.path(), &target)?;
            }
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Standard base64 (for `binaryData` in hand-written manifests).
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The warehouse Secret, pointing at `url`.
pub fn warehouse_secret(url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: warehouse\ntype: Opaque\nstringData:\n  url: {url}\n"
    )
}

/// A namespace with the operator running, a warehouse Secret and the sample Environments.
pub struct Shop {
    pub s: Scenario,
    pub url: String,
    /// Operator processes started so far (the fault tests start, kill and restart them).
    pub operators: Vec<Operator>,
}

impl Shop {
    /// A cluster with the CRDs, the operator running, a warehouse Secret and both sample
    /// Environments.
    pub fn start() -> Result<Shop> {
        let shop = Shop::bare()?;
        shop.environments()?;
        Ok(shop)
    }

    /// The cluster, the CRDs and the operator; no Secret, no Environment yet.
    pub fn bare() -> Result<Shop> {
        Shop::bare_with(cluster())
    }

    /// As `bare`, on a cluster `builder` configures (e.g. `cluster().rbac(true)`).
    pub fn bare_with(builder: TestClusterBuilder) -> Result<Shop> {
        let mut shop = Shop::without_operator_on(builder, postgres::postgres_url())?;
        shop.start_operator(&[], &[])?;
        Ok(shop)
    }

    /// The cluster and the CRDs, with `url` as the warehouse; no operator, Secret or
    /// Environment yet.
    pub fn without_operator(url: String) -> Result<Shop> {
        Shop::without_operator_on(cluster(), url)
    }

    fn without_operator_on(builder: TestClusterBuilder, url: String) -> Result<Shop> {
        let s = Scenario::start_with(builder)?;
        s.kubectl_ok(&["apply", "-f", repo().join("crds").to_str().unwrap()])?;
        // The admission policies, as every installation has them (the operator counts no
        // approval without the approval policy).
        s.kubectl_ok(&[
            "apply",
            "-f",
            repo().join("config/policy").to_str().unwrap(),
        ])?;
        Ok(Shop {
            s,
            url,
            operators: Vec::new(),
        })
    }

    /// Starts another operator process watching the namespace, with extra `args` and `env`.
    pub fn start_operator(&mut self, args: &[&str], env: &[(&str, &str)]) -> Result<&mut Operator> {
        let dir = self.s.local().expect("a local cluster").dir().to_path_buf();
        let mut all = vec!["--watch-namespace", self.s.namespace.as_str()];
        all.extend_from_slice(args);
        let operator = Operator::start_with(self.s.kubeconfig(), &dir, &all, env)?;
        self.operators.push(operator);
        Ok(self.operators.last_mut().expect("just pushed"))
    }

    /// The first operator started.
    pub fn operator(&self) -> &Operator {
        &self.operators[0]
    }

    /// The warehouse Secret and the sample Environments.
    pub fn environments(&self) -> Result<()> {
        self.s.apply(&warehouse_secret(&self.url))?;
        for file in ["environment-prod.yaml", "environment-dev.yaml"] {
            self.s.kubectl_ok(&["apply", "-f", sample(file).as_str()])?;
        }
        Ok(())
    }

    /// A condition's `status/reason: message` on an object, for assertions.
    pub fn condition(&self, what: &str, type_: &str) -> String {
        let path = format!(
            "{{.status.conditions[?(@.type==\"{type_}\")].status}}/{{.status.conditions[?(@.type==\"{type_}\")].reason}}: {{.status.conditions[?(@.type==\"{type_}\")].message}}"
        );
        jsonpath(&self.s, what, &path)
    }

    /// Waits until `what`'s condition `type_` reads `status/reason...`.
    pub fn wait_condition(&self, what: &str, type_: &str, starts_with: &str) -> Result<String> {
        wait_until(
            &format!("{what} condition {type_} to be {starts_with}"),
            2 * MINUTE,
            || self.context(),
            || {
                let c = self.condition(what, type_);
                c.starts_with(starts_with).then_some(c)
            },
        )
    }

    pub fn wait_for(&self, what: &str, args: &[&str], timeout: Duration) -> Result<()> {
        let mut full = vec!["wait", "--timeout", "1s"];
        full.extend_from_slice(args);
        wait_until(
            what,
            timeout,
            || self.context(),
            || {
                self.s
                    .kubectl(&full)
                    .ok()
                    .filter(|o| o.status.success())
                    .map(|_| ())
            },
        )
    }

    pub fn phase(&self, what: &str) -> String {
        jsonpath(&self.s, what, "{.status.phase}")
    }

    pub fn wait_phase(&self, what: &str, phase: &str) -> Result<()> {
        wait_until(
            &format!("{what} to be {phase}"),
            2 * MINUTE,
            || self.context(),
            || (self.phase(what) == phase).then_some(()),
        )
    }

    /// The state of everything, for a failure message.
    pub fn context(&self) -> String {
        let get = self
            .s
            .kubectl(&[
                "get",
                "environments,plans,promotions,jobs,pods",
                "-o",
                "yaml",
            ])
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        format!(
            "--- objects ---\n{get}\n--- operator log ---\n{}",
            self.operators
                .iter()
                .map(Operator::logs)
                .collect::<Vec<_>>()
                .join("\n--- next operator ---\n")
        )
    }

    /// `user` approves `promotion` (the admin impersonating them: admission admits an approval
    /// only in the writer's own name).
    pub fn approve(&self, promotion: &str, user: &str) -> Result<()> {
        let plan = jsonpath(&self.s, &format!("promotion/{promotion}"), "{.spec.plan}");
        let digest = jsonpath(&self.s, &format!("plan/{plan}"), "{.status.digest}");
        let out = self.s.kubectl_as(
            user,
            &[],
            &[
                "annotate",
                &format!("promotion/{promotion}"),
                &format!("approve.sluice.dev/{user}={user}@{digest}"),
            ],
        )?;
        if !out.status.success() {
            bail!(
                "{user} could not approve {promotion}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

pub fn sample(file: &str) -> String {
    repo()
        .join("config/samples/operator")
        .join(file)
        .display()
        .to_string()
}
