//! The crates are the layers (docs/architecture.md), and a dependency that would point upward
//! fails here: from `cargo metadata`, each crate's whole tree of normal dependencies must leave
//! out what its layer may not stand on.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// Each workspace crate's package names (its own included) and their normal dependencies,
/// resolved.
fn dependency_trees() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(std::path::PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"),
        ))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).unwrap();
    let name_of: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    // Normal (not dev or build) dependencies of each resolved package.
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in metadata["resolve"]["nodes"].as_array().unwrap() {
        let deps = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| d["pkg"].as_str().unwrap())
            .collect();
        edges.insert(node["id"].as_str().unwrap(), deps);
    }
    let mut trees = BTreeMap::new();
    for member in metadata["workspace_members"].as_array().unwrap() {
        let root = member.as_str().unwrap();
        let mut seen = BTreeSet::new();
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            if seen.insert(id) {
                stack.extend(edges.get(id).into_iter().flatten().copied());
            }
        }
        trees.insert(
            name_of[root].to_string(),
            seen.iter().map(|id| name_of[id].to_string()).collect(),
        );
    }
    trees
}

const KUBERNETES: &[&str] = &["kube", "kube-client", "kube-runtime", "k8s-openapi"];
const DATABASES: &[&str] = &["duckdb", "libduckdb-sys", "postgres", "tokio-postgres"];

#[test]
fn no_layer_stands_on_one_above_it() {
    let trees = dependency_trees();
    let tree = |crate_name: &str| {
        trees
            .get(crate_name)
            .unwrap_or_else(|| panic!("{crate_name} is not a workspace member"))
    };
    let forbid = |crate_name: &str, names: &[&str], why: &str| {
        let found: Vec<&&str> = names
            .iter()
            .filter(|n| tree(crate_name).contains(**n))
            .collect();
        assert!(
            found.is_empty(),
            "{crate_name} depends on {found:?}, but {why}"
        );
    };
    let engine_forbidden: Vec<&str> = KUBERNETES
        .iter()
        .chain(DATABASES)
        .chain(&["tokio", "sluice-warehouse", "sluice-api"])
        .copied()
        .collect();
    forbid(
        "sluice-engine",
        &engine_forbidden,
        "the engine is pure: no Kubernetes, no database, no async runtime",
    );
    forbid(
        "sluice-warehouse",
        &[
            KUBERNETES,
            &["sluice-api", "sluice-controller", "sluice-plugin"],
        ]
        .concat(),
        "the warehouse side knows nothing of Kubernetes",
    );
    forbid(
        "sluice-api",
        &[
            DATABASES,
            &[
                "sluice-engine",
                "sluice-warehouse",
                "sluice-controller",
                "sluice-plugin",
            ],
        ]
        .concat(),
        "the Kubernetes contract stands on nothing of Sluice's",
    );
    forbid(
        "sluice-plugin",
        &[DATABASES, &["sluice-controller", "sluice-warehouse"]].concat(),
        "the kubectl plugin stands on the contract, never on the controllers or a database",
    );
    forbid(
        "sluice-controller",
        &["sluice-plugin"],
        "the controllers stand on the contract, never on the kubectl plugin",
    );
}
