//! `TestCluster`: an in-process control plane on a free loopback port, with its own runtime,
//! data directory, token table and kubeconfigs. Dropping it stops the server and kills every
//! process its kubelet started.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;

use crate::api::{Cluster, WriteOptions};
use crate::auth::{AuditRecord, Auth, User};
use crate::kubelet::{ImageRule, KubeletConfig, pods::Kubelet};

/// Namespaces every cluster starts with.
const DEFAULT_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Configures a `TestCluster` before starting it.
pub struct TestClusterBuilder {
    users: Vec<(String, String, User)>,
    kubelet: KubeletConfig,
    retry_delay: Duration,
    rbac: bool,
}

impl Default for TestClusterBuilder {
    /// Users `admin` (system:masters), `alice` (group `devs`) and `bob`, each with token
    /// `<name>-token`.
    fn default() -> Self {
        let builder = Self {
            users: Vec::new(),
            kubelet: KubeletConfig::default(),
            retry_delay: crate::controllers::jobs::RETRY_DELAY,
            rbac: false,
        };
        builder
            .user("admin", "admin-token", &["system:masters"])
            .user("alice", "alice-token", &["devs"])
            .user("bob", "bob-token", &[])
    }
}

impl TestClusterBuilder {
    /// Adds (or replaces) a user with a static bearer token.
    pub fn user(mut self, name: &str, token: &str, groups: &[&str]) -> Self {
        self.users.retain(|(n, _, _)| n != name);
        self.users
            .push((name.into(), token.into(), User::new(name, groups)));
        self
    }

    /// Replaces the users with those of a `--token-auth-file` style file.
    pub fn token_file(mut self, text: &str) -> Self {
        self.users = crate::auth::parse_token_file(text)
            .into_iter()
            .map(|(t, u)| (u.name.clone(), t, u))
            .collect();
        self
    }

    /// Authorizes every request with RBAC (off by default: everything is allowed).
    /// `system:masters` members (the default `admin`) are always allowed.
    pub fn rbac(mut self, enabled: bool) -> Self {
        self.rbac = enabled;
        self
    }

    /// Adds an image mapping ahead of the defaults.
    pub fn image(mut self, rule: ImageRule) -> Self {
        self.kubelet.images.insert(0, rule);
        self
    }

    /// How long the Job controller waits before replacing a failed pod (100ms by default;
    /// the real controller backs off from 10s).
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// Starts serving on `127.0.0.1:port` (0 picks a free port).
    pub fn start_on(self, port: u16) -> Result<TestCluster> {
        let dir = tempfile::Builder::new()
            .prefix("sluice-testcluster-")
            .tempdir()?;
        let tokens: HashMap<String, User> = self
            .users
            .iter()
            .map(|(_, t, u)| (t.clone(), u.clone()))
            .collect();
        let cluster = Cluster::new(Auth::new(tokens), dir.path().join("data"), self.rbac);
        let ns_res = cluster
            .resource("", "v1", "namespaces")
            .map_err(|e| anyhow::anyhow!(e.message))?;
        for ns in DEFAULT_NAMESPACES {
            cluster
                .create(
                    &ns_res,
                    "",
                    json!({"metadata": {"name": ns}}),
                    &WriteOptions::default(),
                )
                .map_err(|e| anyhow::anyhow!(e.message))?;
        }
        for (plural, obj) in crate::rbac::bootstrap() {
            let res = cluster
                .resource("rbac.authorization.k8s.io", "v1", plural)
                .map_err(|e| anyhow::anyhow!(e.message))?;
            cluster
                .create(&res, "", obj, &WriteOptions::default())
                .map_err(|e| anyhow::anyhow!(e.message))?;
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sluice-testcluster")
            .enable_all()
            .build()?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))
            .context("binding the API server port")?;
        listener.set_nonblocking(true)?;
        let url = format!("https://{}", listener.local_addr()?);
        let _ = cluster.url.set(url.clone());
        let tls = crate::tls::acceptor()?;
        let kubelet = Arc::new(Kubelet::default());
        {
            let _guard = runtime.enter();
            let listener = tokio::net::TcpListener::from_std(listener)?;
            runtime.spawn(crate::server::serve(listener, tls, cluster.clone()));
            runtime.spawn(crate::controllers::run(cluster.clone()));
            runtime.spawn(crate::controllers::jobs::run(
                cluster.clone(),
                self.retry_delay,
            ));
            runtime.spawn(crate::kubelet::run(
                cluster.clone(),
                Arc::new(self.kubelet),
                kubelet.clone(),
            ));
        }
        let users: Vec<(String, String)> = self
            .users
            .iter()
            .map(|(n, t, _)| (n.clone(), t.clone()))
            .collect();
        let test_cluster = TestCluster {
            url,
            dir,
            runtime: Some(runtime),
            cluster,
            kubelet,
            users,
        };
        for (name, _) in &test_cluster.users {
            std::fs::write(
                test_cluster.kubeconfig_path(name),
                test_cluster.kubeconfig(Some(name)),
            )?;
        }
        std::fs::write(
            test_cluster.dir.path().join("kubeconfig"),
            test_cluster.kubeconfig(None),
        )?;
        Ok(test_cluster)
    }

    pub fn start(self) -> Result<TestCluster> {
        self.start_on(0)
    }
}

/// A running control plane.
pub struct TestCluster {
    url: String,
    dir: tempfile::TempDir,
    runtime: Option<tokio::runtime::Runtime>,
    cluster: Arc<Cluster>,
    kubelet: Arc<Kubelet>,
    users: Vec<(String, String)>,
}

impl TestCluster {
    /// Starts a cluster with the default users on a free port.
    pub fn start() -> Result<Self> {
        TestClusterBuilder::default().start()
    }

    pub fn builder() -> TestClusterBuilder {
        TestClusterBuilder::default()
    }

    /// Base URL, e.g. `https://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// PEM of the CA that signed the serving certificate.
    pub fn ca_pem(&self) -> &'static str {
        crate::tls::certs()
            .map(|c| c.ca_pem.as_str())
            .unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn token(&self, user: &str) -> Option<&str> {
        self.users
            .iter()
            .find(|(n, _)| n == user)
            .map(|(_, t)| t.as_str())
    }

    /// A kubeconfig whose only context acts as `user`.
    pub fn kubeconfig_path(&self, user: &str) -> PathBuf {
        self.dir.path().join(format!("kubeconfig-{user}"))
    }

    /// A kubeconfig with a context per user (`sluice-<user>`), current context `admin` if present.
    pub fn combined_kubeconfig_path(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    fn kubeconfig(&self, only: Option<&str>) -> String {
        let users: Vec<&(String, String)> = self
            .users
            .iter()
            .filter(|(n, _)| only.is_none_or(|o| o == n))
            .collect();
        let current = only
            .map(String::from)
            .or_else(|| {
                users
                    .iter()
                    .find(|(n, _)| n == "admin")
                    .or(users.first())
                    .map(|(n, _)| n.clone())
            })
            .unwrap_or_default();
        use base64::Engine;
        let ca = crate::tls::certs()
            .map(|c| base64::engine::general_purpose::STANDARD.encode(&c.ca_pem))
            .unwrap_or_default();
        let mut out = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sluice\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\ncontexts:\n",
            self.url
        );
        for (name, _) in &users {
            out.push_str(&format!("- name: sluice-{name}\n  context:\n    cluster: sluice\n    user: {name}\n    namespace: default\n"));
        }
        out.push_str(&format!("current-context: sluice-{current}\nusers:\n"));
        for (name, token) in &users {
            out.push_str(&format!("- name: {name}\n  user:\n    token: {token}\n"));
        }
        out
    }

    /// A kube-rs client acting as `user`, configured from that user's kubeconfig.
    pub async fn client(&self, user: &str) -> Result<kube::Client> {
        client_from_kubeconfig(&self.kubeconfig_path(user)).await
    }

    /// `kubectl` acting as `user`, with a private discovery cache.
    pub fn kubectl(&self, user: &str) -> Command {
        kubectl_command(
            &self.kubeconfig_path(user),
            &self.dir.path().join("kubectl-cache"),
        )
    }

    /// A kube-rs client sending `token` (e.g. a service-account token from TokenRequest).
    pub async fn client_with_token(&self, token: &str) -> Result<kube::Client> {
        let mut config = kube::Config::new(self.url.parse()?);
        config.root_cert = Some(vec![crate::tls::ca_der()?]);
        config.auth_info.token = Some(token.to_string().into());
        Ok(kube::Client::try_from(config)?)
    }

    /// The control plane itself, for tests that look inside.
    pub fn state(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Every authenticated request so far: user, verb, path and response code.
    pub fn requests(&self) -> Vec<AuditRecord> {
        self.cluster.auth.records()
    }

    /// Drops the watch history, as etcd compaction does: older versions then get 410 Gone.
    pub fn compact(&self) {
        self.cluster.store.lock().compact();
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        self.kubelet.kill_all();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

pub async fn client_from_kubeconfig(path: &Path) -> Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(path)?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await?;
    Ok(kube::Client::try_from(config)?)
}

pub fn kubectl_command(kubeconfig: &Path, cache: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into()));
    cmd.env("KUBECONFIG", kubeconfig)
        .env("KUBECACHEDIR", cache)
        .arg("--cache-dir")
        .arg(cache);
    cmd
}
