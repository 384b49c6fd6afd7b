//! What the `kubectl sluice` tests share: a cluster with RBAC, the shipped roles and approval
//! policy, the real operator, and people — alice and bob approve (sluice-approver), carol
//! approves through the data-owners group and proposes too (sluice-editor), mallory proposes
//! (sluice-editor) but may not approve, oscar may roll back (sluice-releaser).
//! Everyone acts through the real plugin: `kubectl sluice ...`, kubectl finding
//! `kubectl-sluice` on the PATH.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anyhow::{Result, bail};
use regex::Regex;

use super::support::{Shop, cluster, repo, sample, warehouse_secret};

/// The groups each person arrives with (impersonation carries only these, plus
/// system:authenticated).
pub fn groups(user: &str) -> &'static [&'static str] {
    match user {
        "alice" | "mallory" => &["devs"],
        "carol" => &["data-owners"],
        "admin" => &["system:masters"],
        _ => &[],
    }
}

/// A namespace where people release the shop project.
pub struct Team {
    pub shop: Shop,
}

impl Team {
    /// RBAC on, the CRDs, roles and policy installed, the operator running, the warehouse
    /// Secret and the sample Environments (`prod`: two approvals from alice, bob or data-owners,
    /// no self-approval; `dev`: promotes by itself), and each person's RoleBinding.
    pub fn start() -> Result<Team> {
        let builder = cluster()
            .rbac(true)
            .user("mallory", "mallory-token", groups("mallory"))
            .user("carol", "carol-token", groups("carol"));
        let shop = Shop::bare_with(builder)?;
        let s = &shop.s;
        for file in [
            "config/rbac/approver.yaml",
            "config/rbac/editor.yaml",
            "config/rbac/viewer.yaml",
            "config/rbac/releaser.yaml",
        ] {
            s.kubectl_ok(&["apply", "-f", repo().join(file).to_str().unwrap()])?;
        }
        for (user, role) in [
            ("alice", "sluice-approver"),
            ("bob", "sluice-approver"),
            ("carol", "sluice-approver"),
            ("carol", "sluice-editor"),
            ("mallory", "sluice-editor"),
            ("oscar", "sluice-releaser"),
        ] {
            s.apply(&format!(
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: {user}-{role}}}\n\
                 roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {role}}}\n\
                 subjects: [{{kind: User, apiGroup: rbac.authorization.k8s.io, name: {user}}}]\n"
            ))?;
        }
        s.apply(&warehouse_secret(&shop.url))?;
        for file in ["environment-prod.yaml", "environment-dev.yaml"] {
            s.kubectl_ok(&["apply", "-f", sample(file).as_str()])?;
        }
        Ok(Team { shop })
    }

    /// `kubectl sluice ARGS -n <namespace>` as `user` (impersonated by the admin, with the
    /// user's groups, through the plugin's own `--as` / `--as-group`).
    pub fn sluice(&self, user: &str, args: &[&str]) -> Output {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend(["-n".to_string(), self.shop.s.namespace.clone()]);
        if user != "admin" {
            all.push(format!("--as={user}"));
            all.extend(groups(user).iter().map(|g| format!("--as-group={g}")));
        }
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        kubectl_sluice(self.shop.s.kubeconfig(), &all)
            .output()
            .expect("kubectl runs")
    }

    /// As [`Team::sluice`], failing unless it exits 0; its stdout.
    pub fn sluice_ok(&self, user: &str, args: &[&str]) -> Result<String> {
        let out = self.sluice(user, args);
        if !out.status.success() {
            bail!(
                "kubectl sluice {} as {user} exited {:?}:\n{}{}\n{}",
                args.join(" "),
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.shop.context()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// As [`Team::sluice`], expecting exit code `code`; its stdout and stderr.
    pub fn sluice_exit(&self, user: &str, args: &[&str], code: i32) -> Result<(String, String)> {
        let out = self.sluice(user, args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        if out.status.code() != Some(code) {
            bail!(
                "kubectl sluice {} as {user}: expected exit {code}, got {:?}:\n{stdout}{stderr}",
                args.join(" "),
                out.status.code()
            );
        }
        Ok((stdout, stderr))
    }

    /// An annotation on a Promotion written by `user` with plain `kubectl annotate`, not the
    /// plugin: admission and the operator must hold without it.
    pub fn annotate_by_hand(
        &self,
        user: &str,
        promotion: &str,
        annotation: &str,
    ) -> Result<Output> {
        self.shop.s.kubectl_as(
            user,
            groups(user),
            &["annotate", "promotion", promotion, annotation],
        )
    }

    /// `kubectl sluice render ...` applied with `kubectl apply -f` (as the admin, like GitOps).
    pub fn render_and_apply(
        &self,
        project: &Path,
        environment: &str,
        name: &str,
        author: Option<&str>,
    ) -> Result<String> {
        let dir = tempfile::tempdir()?;
        let mut args = vec![
            "render",
            "--project",
            project.to_str().unwrap(),
            "--environment",
            environment,
            "--name",
            name,
        ];
        if let Some(author) = author {
            args.extend(["--author", author]);
        }
        let manifests = self.sluice_ok("admin", &args)?;
        let file = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, &manifests)?;
        self.shop
            .s
            .kubectl_ok(&["apply", "-f", file.to_str().unwrap()])?;
        Ok(manifests)
    }
}

/// `status TARGET --watch`, with room for a backfill.
pub fn status_watch(target: &str) -> [&str; 5] {
    ["status", target, "--watch", "--timeout", "5m"]
}

/// A copy of the shop project with `stg.orders` gaining a column (a non-breaking change).
pub fn changed_shop() -> Result<tempfile::TempDir> {
    let changed = super::support::copy_project(&repo().join("config/samples/shop"))?;
    std::fs::copy(
        repo().join("config/samples/shop-changes/stg_orders_add_column.sql"),
        changed.path().join("models/stg/orders.sql"),
    )?;
    Ok(changed)
}

/// The directory holding the built `kubectl-sluice` (and `sluice`).
pub fn bin_dir() -> PathBuf {
    let dir = super::support::sluice_bin()
        .parent()
        .expect("target/<profile>")
        .to_path_buf();
    assert!(
        dir.join("kubectl-sluice").exists(),
        "{} does not exist: build it first (`cargo build -p sluice`; `make test` does)",
        dir.join("kubectl-sluice").display()
    );
    dir
}

/// `kubectl sluice ARGS` with `kubeconfig`, the plugin's directory first on the PATH.
pub fn kubectl_sluice(kubeconfig: &Path, args: &[&str]) -> Command {
    let path = std::env::join_paths(std::iter::once(bin_dir()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("a PATH");
    let mut cmd = Command::new(std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into()));
    cmd.arg("sluice")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("PATH", path)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    cmd
}

/// Output with what changes from run to run replaced: namespaces, digests, times, ages, Job
/// and generated names; runs of spaces (column widths follow those) become one.
pub fn normalize(text: &str, namespace: &str) -> String {
    let rules = [
        (r"sha256:[0-9a-f]{12}…", "sha256:<digest>…"),
        (r"sha256:[0-9a-f]{64}", "sha256:<digest>"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "<time>"),
        // Backfills run up to today.
        (r"\d{4}-\d\d-\d\d - \d{4}-\d\d-\d\d", "<dates>"),
        (r"\d+ batch\(es\)", "<n> batch(es)"),
        (r"\b\d+[smhdy](\d+[smhd])?\b", "<age>"),
        (r"-[0-9a-f]{6}-[0-9a-f]{12}\b", "-<plan>-<model>"),
        (r"-rollback-[a-z0-9]{5}\b", "-rollback-<x>"),
        (r" {2,}", " "),
    ];
    let mut text = text.to_string();
    if !namespace.is_empty() {
        text = text.replace(namespace, "<namespace>");
    }
    for (pattern, with) in rules {
        text = Regex::new(pattern)
            .unwrap()
            .replace_all(&text, with)
            .into_owned();
    }
    text.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Compares normalized output with the golden file `e2e/tests/plugin/<name>`, or rewrites it
/// with `SLUICE_UPDATE_GOLDEN=1`.
pub fn golden(name: &str, actual: &str) {
    let path = repo().join("e2e/tests/plugin").join(name);
    if std::env::var_os("SLUICE_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (SLUICE_UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        actual,
        expected,
        "differs from {} (SLUICE_UPDATE_GOLDEN=1 rewrites it)",
        path.display()
    );
}
