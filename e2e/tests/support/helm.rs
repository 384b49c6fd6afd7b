//! The Helm chart through Helm's own engine (Helm 4's Go SDK as a Python library,
//! helm-python-sdk, driven by `e2e/helm/render.py`): render, lint, parse, and apply what it
//! renders to a test cluster.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sluice_e2e::Scenario;

use super::repo;

pub fn chart() -> PathBuf {
    repo().join("charts/sluice")
}

/// The pinned helm-python-sdk version, from e2e/helm/requirements.txt.
pub fn pinned_sdk() -> String {
    let text = std::fs::read_to_string(repo().join("e2e/helm/requirements.txt")).unwrap();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("helm-python-sdk=="))
        .expect("requirements.txt pins helm-python-sdk==<version>")
        .to_string()
}

pub fn install_hint() -> String {
    format!(
        "the chart tests need helm-python-sdk {} (Helm's engine as a Python library): run \
         `scripts/helm-venv` (it creates ~/.cache/sluice/helm-venv), or set SLUICE_HELM_PYTHON \
         to a python that has it",
        pinned_sdk()
    )
}

pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("SLUICE_HELM_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    let venv = Path::new(&home).join(".cache/sluice/helm-venv/bin/python");
    assert!(
        venv.exists(),
        "{} does not exist: {}",
        venv.display(),
        install_hint()
    );
    venv
}

/// Runs `e2e/helm/render.py` and returns its JSON answer.
pub fn helm(args: &[&str]) -> Value {
    let out = Command::new(python())
        .arg(repo().join("e2e/helm/render.py"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python: {e}; {}", install_hint()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let answer: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| {
        panic!(
            "render.py {args:?} failed: {}{stdout}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    if answer["error"]["type"] == "MissingSdk" {
        panic!("{}: {}", answer["error"]["message"], install_hint());
    }
    answer
}

pub struct Rendered {
    pub objects: Vec<Value>,
    pub notes: String,
}

impl Rendered {
    pub fn find(&self, kind: &str, name: &str) -> Option<&Value> {
        self.objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
    }

    pub fn get(&self, kind: &str, name: &str) -> &Value {
        self.find(kind, name)
            .unwrap_or_else(|| panic!("no {kind} {name} among {:?}", self.names()))
    }

    pub fn all(&self, kind: &str) -> Vec<&Value> {
        self.objects.iter().filter(|o| o["kind"] == kind).collect()
    }

    /// `Kind name[@namespace]` of every object.
    pub fn names(&self) -> BTreeSet<String> {
        self.objects
            .iter()
            .map(|o| {
                let ns = o["metadata"]["namespace"]
                    .as_str()
                    .map(|n| format!("@{n}"))
                    .unwrap_or_default();
                format!(
                    "{} {}{ns}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    }

    /// Applies every object with kubectl, namespace by namespace.
    pub fn apply(&self, s: &Scenario) {
        let namespace_of = |o: &Value| {
            o["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        let namespaces: BTreeSet<String> = self.objects.iter().map(namespace_of).collect();
        for ns in namespaces {
            let stream: String = self
                .objects
                .iter()
                .filter(|o| namespace_of(o) == ns)
                .map(|o| format!("---\n{o}\n"))
                .collect();
            let ns = if ns.is_empty() {
                s.namespace.clone()
            } else {
                ns
            };
            let out = s
                .kubectl_stdin(&["apply", "-n", &ns, "-f", "-"], Some(&stream))
                .unwrap();
            assert!(
                out.status.success(),
                "kubectl apply: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

pub fn render_in(values: Value, namespace: &str) -> Rendered {
    let answer = helm(&[
        "render",
        chart().to_str().unwrap(),
        "--values",
        &values.to_string(),
        "--namespace",
        namespace,
    ]);
    assert!(
        answer.get("error").is_none(),
        "rendering with {values} failed: {}",
        answer["error"]
    );
    Rendered {
        objects: answer["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["object"].clone())
            .collect(),
        notes: answer["notes"].as_str().unwrap_or_default().to_string(),
    }
}
