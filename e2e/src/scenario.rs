//! Scenario helpers for end-to-end tests. With `SLUICE_E2E_KUBECONFIG` set they use that
//! cluster (kind, k3d, ...); otherwise each scenario starts its own `TestCluster`. Either way a
//! scenario works in a fresh namespace, so tests run in parallel.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::harness::{TestCluster, TestClusterBuilder, client_from_kubeconfig, kubectl_command};

pub const KUBECONFIG_ENV: &str = "SLUICE_E2E_KUBECONFIG";

/// A cluster plus a namespace to work in.
pub struct Scenario {
    local: Option<TestCluster>,
    kubeconfig: PathBuf,
    cache: tempfile::TempDir,
    pub namespace: String,
}

impl Scenario {
    /// Connects to `$SLUICE_E2E_KUBECONFIG` or starts a local cluster, then creates a namespace.
    pub fn start() -> Result<Self> {
        Self::start_with(TestCluster::builder())
    }

    /// As `start`, configuring the local cluster (e.g. `.rbac(true)`; a real cluster always
    /// authorizes).
    pub fn start_with(builder: TestClusterBuilder) -> Result<Self> {
        let (local, kubeconfig) = match std::env::var_os(KUBECONFIG_ENV) {
            Some(path) => (None, PathBuf::from(path)),
            None => {
                let cluster = builder.start()?;
                let path = cluster.kubeconfig_path("admin");
                (Some(cluster), path)
            }
        };
        let namespace = format!("e2e-{}", crate::meta::suffix());
        let scenario = Self {
            local,
            kubeconfig,
            cache: tempfile::tempdir()?,
            namespace,
        };
        // `kubectl create namespace` would send protobuf, which the test server does not read.
        scenario.apply(&format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {}\n",
            scenario.namespace
        ))?;
        Ok(scenario)
    }

    /// The in-process cluster, when not running against an external one.
    pub fn local(&self) -> Option<&TestCluster> {
        self.local.as_ref()
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    pub async fn client(&self) -> Result<kube::Client> {
        client_from_kubeconfig(&self.kubeconfig).await
    }

    /// A kube-rs client impersonating `user` in `groups` (the admin must be allowed to
    /// impersonate, as cluster admins are).
    pub async fn client_as(&self, user: &str, groups: &[&str]) -> Result<kube::Client> {
        let kubeconfig = kube::config::Kubeconfig::read_from(&self.kubeconfig)?;
        let mut config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await?;
        config.auth_info.impersonate = Some(user.to_string());
        config.auth_info.impersonate_groups =
            (!groups.is_empty()).then(|| groups.iter().map(|g| g.to_string()).collect());
        Ok(kube::Client::try_from(config)?)
    }

    /// Runs kubectl as `user` in `groups` (through impersonation) in the namespace.
    pub fn kubectl_as(&self, user: &str, groups: &[&str], args: &[&str]) -> Result<Output> {
        let mut all = vec![format!("--as={user}")];
        all.extend(groups.iter().map(|g| format!("--as-group={g}")));
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.kubectl(&all)
    }

    /// Runs kubectl in the scenario's namespace.
    pub fn kubectl(&self, args: &[&str]) -> Result<Output> {
        self.kubectl_stdin(args, None)
    }

    pub fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> Result<Output> {
        let mut cmd = kubectl_command(&self.kubeconfig, self.cache.path());
        cmd.arg("-n").arg(&self.namespace).args(args);
        match stdin {
            None => Ok(cmd.output()?),
            Some(input) => {
                use std::io::Write;
                let mut child = cmd
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()?;
                child
                    .stdin
                    .take()
                    .expect("piped")
                    .write_all(input.as_bytes())?;
                Ok(child.wait_with_output()?)
            }
        }
    }

    /// Runs kubectl and returns stdout, failing with stderr if it exits non-zero.
    pub fn kubectl_ok(&self, args: &[&str]) -> Result<String> {
        check(self.kubectl(args)?, args)
    }

    /// `kubectl apply -f -` with the given manifest.
    pub fn apply(&self, manifest: &str) -> Result<String> {
        check(
            self.kubectl_stdin(&["apply", "-f", "-"], Some(manifest))?,
            &["apply"],
        )
    }

    /// `kubectl apply --server-side -f -`: no last-applied annotation, so objects up to the
    /// API server's size limit apply (a client-side apply copies the object into a 256 KiB
    /// annotation).
    pub fn apply_server_side(&self, manifest: &str) -> Result<String> {
        check(
            self.kubectl_stdin(&["apply", "--server-side", "-f", "-"], Some(manifest))?,
            &["apply"],
        )
    }

    /// Polls `f` until it returns `Some`, or fails after `timeout`.
    pub async fn eventually<T>(
        timeout: Duration,
        mut f: impl AsyncFnMut() -> Option<T>,
    ) -> Result<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(v) = f().await {
                return Ok(v);
            }
            if tokio::time::Instant::now() > deadline {
                bail!("condition not met within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn check(out: Output, args: &[&str]) -> Result<String> {
    if !out.status.success() {
        bail!(
            "kubectl {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if self.local.is_none() {
            let _ = kubectl_command(&self.kubeconfig, self.cache.path())
                .args(["delete", "namespace", &self.namespace, "--wait=false"])
                .output();
        }
    }
}
