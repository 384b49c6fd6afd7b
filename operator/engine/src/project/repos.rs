//! Multi-repo projects: a directory whose subdirectories are SQLMesh projects, each with a
//! `config.yaml` naming its `project`, loaded as one project — what SQLMesh does with
//! `sqlmesh -p repo_1 -p repo_2`. Each repo's models are read with its own configuration
//! (dialect, defaults, variables, macros); they form one graph, so a model of one repo reads
//! another's by name. The first repo (by directory name) gives the gateway, as the first `-p`
//! does in SQLMesh; every repo's `before_all`/`after_all` statements run, in repo order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Diagnostic, Project, ProjectError, display_path, load_one};

/// The repos of `root` (sorted directory names), when `root` is a multi-repo project: it has
/// no `config.yaml` and no `models/` of its own, and at least one subdirectory holds a
/// `config.yaml` with a top-level `project:` key.
pub(super) fn of(root: &Path) -> Option<Vec<PathBuf>> {
    let own = ["config.yaml", "config.yml", "models"];
    if !root.is_dir() || own.iter().any(|f| root.join(f).exists()) {
        return None;
    }
    let mut repos: Vec<PathBuf> = std::fs::read_dir(root)
        .ok()?
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .map(|entry| PathBuf::from(entry.file_name()))
        .filter(|dir| names_a_project(&root.join(dir)))
        .collect();
    repos.sort();
    (!repos.is_empty()).then_some(repos)
}

fn names_a_project(dir: &Path) -> bool {
    ["config.yaml", "config.yml"].iter().any(|file| {
        std::fs::read_to_string(dir.join(file))
            .is_ok_and(|text| text.lines().any(|line| line.starts_with("project:")))
    })
}

/// Loads every repo and merges them; problems of all repos are reported together, with paths
/// relative to `root` (`repo_1/models/a.sql:3: ...`).
pub(super) fn load(root: &Path, repos: &[PathBuf]) -> Result<Project, ProjectError> {
    let mut diagnostics = Vec::new();
    let mut merged: Option<Project> = None;
    let mut model_paths: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut audit_paths: BTreeMap<String, PathBuf> = BTreeMap::new();
    for repo in repos {
        let project = match load_one(&root.join(repo)) {
            Ok(project) => project,
            Err(e) => {
                diagnostics.extend(e.diagnostics.into_iter().map(|d| Diagnostic {
                    path: repo.join(&d.path),
                    ..d
                }));
                continue;
            }
        };
        let merged = merged.get_or_insert_with(|| {
            let mut config = project.config.clone();
            config.statements = Default::default();
            Project {
                root: root.to_path_buf(),
                config,
                ..Default::default()
            }
        });
        let statements = &mut merged.config.statements;
        statements
            .before_all
            .extend(project.config.statements.before_all);
        statements
            .after_all
            .extend(project.config.statements.after_all);
        for mut model in project.models {
            model.path = repo.join(&model.path);
            let key = model.name.to_lowercase();
            if let Some(first) = model_paths.get(&key) {
                diagnostics.push(Diagnostic::file(
                    &model.path,
                    format!(
                        "duplicate model name '{}' (also defined in {})",
                        model.name,
                        display_path(first)
                    ),
                ));
                continue;
            }
            model_paths.insert(key, model.path.clone());
            merged.models.push(model);
        }
        for (name, mut audit) in project.audits {
            audit.path = repo.join(&audit.path);
            if let Some(first) = audit_paths.get(&name) {
                diagnostics.push(Diagnostic::file(
                    &audit.path,
                    format!(
                        "duplicate audit name '{name}' (also defined in {})",
                        display_path(first)
                    ),
                ));
                continue;
            }
            audit_paths.insert(name.clone(), audit.path.clone());
            merged.audits.insert(name, audit);
        }
        merged.products.extend(project.products);
        merged
            .needs_python
            .extend(project.needs_python.into_iter().map(|mut n| {
                n.path = repo.join(&n.path);
                n
            }));
    }
    match merged {
        Some(project) if diagnostics.is_empty() => Ok(project),
        _ => Err(ProjectError { diagnostics }),
    }
}
