//! Loading a SQLMesh-format project directory: `config.yaml`, `models/**/*.sql`,
//! `audits/**/*.sql` (seeds are read through the SEED models that name them).
//!
//! Loading never stops at the first problem: every file is parsed and all problems are
//! reported together, each naming its file and line, so a user fixes a project in one pass.

mod audit_call;
mod audit_file;
mod blueprints;
mod config;
mod header;
mod kind;
mod model_file;
mod products;
mod repos;
mod values;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::model::{AuditArg, CustomAudit, Model, ProjectConfig};
use crate::products::Product;

pub use audit_call::parse_audit_call;

/// A loaded project: its configuration, models in file order, and custom audits by name.
#[derive(Debug, Clone, Default)]
pub struct Project {
    pub root: PathBuf,
    pub config: ProjectConfig,
    pub models: Vec<Model>,
    pub audits: BTreeMap<String, CustomAudit>,
    /// Data products from `products.yaml`, their model selectors resolved.
    pub products: Vec<Product>,
    /// What needs Python — Python models (`models/**/*.py`), models calling Python macros,
    /// `before_all`/`after_all` statements calling them: Sluice does not run Python, so these
    /// and the models that read them are refused by name, up front, and the rest runs.
    pub needs_python: Vec<NeedsPython>,
}

/// Something of the project that needs Python: a model (named by its file, and by its
/// `@model(...)` decorator or header) or an environment statement (`name` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeedsPython {
    /// Relative to the project root.
    pub path: PathBuf,
    pub name: Option<String>,
    /// Why it needs Python, for the refusal.
    pub reason: String,
}

/// A standalone audit, named as left out (with the models it reads): Sluice does not run
/// them yet.
fn left_out_standalone(audit: &CustomAudit, dialect: crate::model::Dialect) -> NeedsPython {
    let reads = crate::sql::parse_query(&audit.query, dialect, 1)
        .map(|q| q.tables.into_iter().collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    NeedsPython {
        path: audit.path.clone(),
        name: Some(format!("audit {}", audit.name)),
        reason: format!(
            "a standalone audit{}: Sluice does not run standalone audits yet",
            if reads.is_empty() {
                String::new()
            } else {
                format!(" (reads {reads})")
            }
        ),
    }
}

/// Leaves out the audits whose query calls a Python macro, and drops the models' calls to
/// them: the models still run, without that check, and the plan names each audit left out.
fn leave_out_python_audits(
    audits: &mut BTreeMap<String, CustomAudit>,
    models: &mut [Model],
    python: &BTreeMap<String, PathBuf>,
) -> Vec<NeedsPython> {
    let mut left_out = Vec::new();
    audits.retain(|name, audit| {
        let calls = python_calls(&audit.query, python);
        if calls.is_empty() {
            return true;
        }
        let callers: Vec<&str> = models
            .iter()
            .filter(|m| m.audits.iter().any(|a| a.base_name() == name))
            .map(|m| m.name.as_str())
            .collect();
        left_out.push(NeedsPython {
            path: audit.path.clone(),
            name: Some(format!("audit {name}")),
            reason: format!(
                "calls the Python macro(s) {}: Sluice does not run Python, so the models \
                 calling it ({}) run without it",
                calls.join(", "),
                match callers.as_slice() {
                    [] => "none".to_string(),
                    _ => callers.join(", "),
                }
            ),
        });
        false
    });
    for model in models.iter_mut() {
        model
            .audits
            .retain(|a| audits.contains_key(a.base_name()) || !is_left_out(a, &left_out));
        // A call whose arguments call a Python macro cannot be run either.
        let (name, path) = (model.name.clone(), model.path.clone());
        model.audits.retain(|call| {
            let calls: Vec<String> = call
                .args
                .values()
                .flat_map(|arg| match arg {
                    AuditArg::Scalar(text) => vec![text.as_str()],
                    AuditArg::List(items) => items.iter().map(String::as_str).collect(),
                })
                .flat_map(|text| python_calls(text, python))
                .collect();
            if calls.is_empty() {
                return true;
            }
            left_out.push(NeedsPython {
                path: path.clone(),
                name: Some(format!("audit {} of {name}", call.name)),
                reason: format!(
                    "its arguments call the Python macro(s) {}: Sluice does not run Python, so \
                     {name} runs without this audit",
                    calls.join(", ")
                ),
            });
            false
        });
    }
    left_out
}

/// The Python macros `sql` calls, as `@name`.
fn python_calls(sql: &str, python: &BTreeMap<String, PathBuf>) -> Vec<String> {
    crate::macros::called_macros(sql)
        .into_iter()
        .filter(|name| python.contains_key(name))
        .map(|name| format!("@{name}"))
        .collect()
}

/// Whether `call` names one of the audits in `left_out`.
fn is_left_out(call: &crate::model::AuditCall, left_out: &[NeedsPython]) -> bool {
    let wanted = format!("audit {}", call.base_name());
    left_out
        .iter()
        .any(|n| n.name.as_deref() == Some(wanted.as_str()))
}

/// The name in a Python model's `@model("name", ...)` decorator.
fn python_model_name(source: &str) -> Option<String> {
    let rest = &source[source.find("@model(")? + "@model(".len()..];
    let rest = rest.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let body = &rest[1..];
    Some(body[..body.find(quote)?].to_string())
}

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Relative to the project root.
    pub path: PathBuf,
    /// 1-based; `None` when the problem concerns the whole file.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn file(path: &Path, message: impl Into<String>) -> Self {
        Diagnostic {
            path: path.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    fn at(path: &Path, located: header::Located) -> Self {
        Diagnostic {
            path: path.to_path_buf(),
            line: Some(located.line),
            column: Some(located.column),
            message: located.message,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", display_path(&self.path))?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found while loading a project; `Display` prints one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render_diagnostics(.diagnostics))]
pub struct ProjectError {
    pub diagnostics: Vec<Diagnostic>,
}

fn render_diagnostics(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Paths in messages use `/` on every platform so that they read the same in CI logs.
fn display_path(path: &Path) -> String {
    let joined = path
        .components()
        .filter(|c| !matches!(c, std::path::Component::RootDir))
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    if path.has_root() {
        format!("/{joined}")
    } else {
        joined
    }
}

/// Syntax errors in the queries of `models`, one per model.
fn query_errors(models: &[Model]) -> Vec<Diagnostic> {
    models
        .iter()
        .filter_map(|m| {
            let sql = m.query.as_ref()?;
            let e = crate::sql::parse_query(sql, m.dialect, m.query_line).err()?;
            Some(Diagnostic {
                path: m.path.clone(),
                line: Some(e.line),
                column: None,
                message: e.message,
            })
        })
        .collect()
}

/// Loads the project rooted at `root`: a SQLMesh project directory, or a directory of
/// SQLMesh repos loaded together (see [`repos`]).
pub fn load(root: &Path) -> Result<Project, ProjectError> {
    match repos::of(root) {
        Some(repos) => repos::load(root, &repos),
        None => load_one(root),
    }
}

/// The configuration of the project at `root` (of the first repo of a multi-repo project).
pub fn load_config(root: &Path) -> Result<ProjectConfig, Vec<Diagnostic>> {
    match repos::of(root) {
        Some(repos) => config::load_config(&root.join(&repos[0])),
        None => config::load_config(root),
    }
}

/// Loads one SQLMesh project directory.
fn load_one(root: &Path) -> Result<Project, ProjectError> {
    // A mistyped --project must not look like an empty project (whose plan would drop
    // every model from the environment).
    let has_config = root.join("config.yaml").is_file() || root.join("config.yml").is_file();
    if !root.is_dir() || !(has_config || root.join("models").is_dir()) {
        let message = if root.is_dir() {
            "not a project: no config.yaml and no models/ directory here"
        } else {
            "the project directory does not exist"
        };
        return Err(ProjectError {
            diagnostics: vec![Diagnostic::file(root, message)],
        });
    }
    let mut diagnostics = Vec::new();
    let mut config = match config::load_config(root) {
        Ok(config) => config,
        Err(mut errs) => {
            diagnostics.append(&mut errs);
            Default::default()
        }
    };

    let macros = project_macros(root, &mut diagnostics);
    let mut needs_python = statements_needing_python(&mut config, &macros.python);
    if root.join("config.py").is_file() && !has_config {
        needs_python.push(NeedsPython {
            path: PathBuf::from("config.py"),
            name: None,
            reason: "a Python configuration: not read (Sluice reads config.yaml), so its \
                     gateways, model defaults and before_all do not apply; Sluice's defaults do"
                .into(),
        });
    }
    let mut models: Vec<model_file::ParsedModel> = Vec::new();
    for rel in sql_files(root, "models", &mut diagnostics) {
        let src = match read(root, &rel) {
            Ok(src) => src,
            Err(d) => {
                diagnostics.push(d);
                continue;
            }
        };
        // A file with blueprints is several models, one per blueprint.
        let copies = match blueprints::expand(&src) {
            Ok(Some(copies)) => copies,
            Ok(None) => vec![src],
            Err(errs) => {
                diagnostics.extend(errs.into_iter().map(|e| Diagnostic::at(&rel, e)));
                continue;
            }
        };
        for src in copies {
            match model_file::parse(root, &rel, &src, &config, &macros) {
                Ok(model_file::Parsed::Model(parsed)) => models.push(*parsed),
                Ok(model_file::Parsed::NeedsPython(model)) => needs_python.push(model),
                Ok(model_file::Parsed::Disabled) => {}
                Err(errs) => diagnostics.extend(errs.into_iter().map(|e| Diagnostic::at(&rel, e))),
            }
        }
    }
    check_duplicate_models(&models, &mut diagnostics);
    // A Python file of models/ without an `@model` decorator is a helper module, not a model.
    needs_python.extend(
        files(root, "models", "py", &mut diagnostics)
            .into_iter()
            .filter_map(|rel| {
                let text = std::fs::read_to_string(root.join(&rel)).ok()?;
                text.contains("@model").then(|| NeedsPython {
                    name: python_model_name(&text),
                    path: rel,
                    reason: "a Python model: Sluice does not run Python".into(),
                })
            }),
    );

    let mut audits: BTreeMap<String, CustomAudit> = BTreeMap::new();
    let mut audit_lines: BTreeMap<String, usize> = BTreeMap::new();
    let mut add_audit = |audit: CustomAudit, line: usize, diagnostics: &mut Vec<Diagnostic>| {
        if let Some(existing) = audits.get(&audit.name) {
            diagnostics.push(Diagnostic {
                path: audit.path.clone(),
                line: Some(line),
                column: None,
                message: format!(
                    "duplicate audit name '{}' (also defined in {}:{})",
                    audit.name,
                    display_path(&existing.path),
                    audit_lines[&audit.name]
                ),
            });
        } else {
            audit_lines.insert(audit.name.clone(), line);
            audits.insert(audit.name.clone(), audit);
        }
    };
    for rel in sql_files(root, "audits", &mut diagnostics) {
        let src = match read(root, &rel) {
            Ok(src) => src,
            Err(d) => {
                diagnostics.push(d);
                continue;
            }
        };
        let parsed = audit_file::parse(&rel, &src);
        diagnostics.extend(parsed.errors.into_iter().map(|e| Diagnostic::at(&rel, e)));
        for (audit, line) in parsed.audits {
            if audit.standalone {
                needs_python.push(left_out_standalone(&audit, config.dialect));
            } else {
                add_audit(audit, line, &mut diagnostics);
            }
        }
    }
    // Audits defined in model files, after the query.
    for parsed in &mut models {
        for (audit, line) in std::mem::take(&mut parsed.audits) {
            add_audit(audit, line, &mut diagnostics);
        }
    }

    let mut models: Vec<_> = models.into_iter().map(|p| p.model).collect();
    needs_python.extend(leave_out_python_audits(
        &mut audits,
        &mut models,
        &macros.python,
    ));
    if !diagnostics.is_empty() {
        // The project is refused anyway: report the queries that do not parse too, so that
        // every problem is seen in one run (a loaded project's queries are parsed later, once).
        diagnostics.extend(query_errors(&models));
        diagnostics.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
    }
    let products = if diagnostics.is_empty() {
        products::load(root, &models).unwrap_or_else(|mut errs| {
            diagnostics.append(&mut errs);
            Vec::new()
        })
    } else {
        Vec::new()
    };
    if diagnostics.is_empty() {
        Ok(Project {
            root: root.to_path_buf(),
            config,
            models,
            audits,
            products,
            needs_python,
        })
    } else {
        Err(ProjectError { diagnostics })
    }
}

/// Takes the `before_all`/`after_all` statements that call a Python macro out of `config`,
/// naming each: they cannot run, and the rest of the project can.
fn statements_needing_python(
    config: &mut ProjectConfig,
    python: &BTreeMap<String, PathBuf>,
) -> Vec<NeedsPython> {
    let mut refused = Vec::new();
    let file = PathBuf::from("config.yaml");
    for (which, statements) in [
        ("before_all", &mut config.statements.before_all),
        ("after_all", &mut config.statements.after_all),
    ] {
        let mut index = 0;
        statements.retain(|sql| {
            index += 1;
            let calls = python_calls(sql, python);
            if calls.is_empty() {
                return true;
            }
            refused.push(NeedsPython {
                path: file.clone(),
                name: None,
                reason: format!(
                    "{which} statement {index} calls the Python macro(s) {}: not run, Sluice \
                     does not run Python",
                    calls.join(", ")
                ),
            });
            false
        });
    }
    refused
}

fn read(root: &Path, rel: &Path) -> Result<String, Diagnostic> {
    std::fs::read_to_string(root.join(rel))
        .map_err(|e| Diagnostic::file(rel, format!("cannot read file: {e}")))
}

/// Names are compared case-insensitively, as the warehouse compares unquoted identifiers.
fn check_duplicate_models(models: &[model_file::ParsedModel], diagnostics: &mut Vec<Diagnostic>) {
    let mut seen: BTreeMap<String, &model_file::ParsedModel> = BTreeMap::new();
    for parsed in models {
        let key = parsed.model.name.to_lowercase();
        if let Some(first) = seen.get(&key) {
            diagnostics.push(Diagnostic {
                path: parsed.model.path.clone(),
                line: Some(parsed.name_line),
                column: None,
                message: format!(
                    "duplicate model name '{}' (also defined in {}:{})",
                    parsed.model.name,
                    display_path(&first.model.path),
                    first.name_line
                ),
            });
        } else {
            seen.insert(key, parsed);
        }
    }
}

/// The project's macros: Jinja macros from `macros/**/*.sql`, and the names of the Python
/// macros `macros/**/*.py` define (which Sluice does not run: a model calling one is
/// refused by name).
fn project_macros(root: &Path, diagnostics: &mut Vec<Diagnostic>) -> model_file::ProjectMacros {
    let mut macros = model_file::ProjectMacros::default();
    for rel in files(root, "macros", "sql", diagnostics) {
        match read(root, &rel) {
            Ok(source) => macros.jinja.push(crate::macros::JinjaMacros {
                path: display_path(&rel),
                source,
            }),
            Err(d) => diagnostics.push(d),
        }
    }
    for rel in files(root, "macros", "py", diagnostics) {
        match read(root, &rel) {
            Ok(source) => {
                for name in crate::macros::python_macro_names(&source) {
                    macros.python.entry(name).or_insert_with(|| rel.clone());
                }
            }
            Err(d) => diagnostics.push(d),
        }
    }
    macros
}

/// `.sql` files under `root/dir`, recursively, relative to `root`, sorted so that loading is
/// deterministic across filesystems. A missing directory is simply empty.
fn sql_files(root: &Path, dir: &str, diagnostics: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    files(root, dir, "sql", diagnostics)
}

/// [`sql_files`] for files ending in `.{extension}`.
fn files(
    root: &Path,
    dir: &str,
    extension: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![PathBuf::from(dir)];
    while let Some(rel_dir) = pending.pop() {
        let entries = match std::fs::read_dir(root.join(&rel_dir)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                diagnostics.push(Diagnostic::file(
                    &rel_dir,
                    format!("cannot read directory: {e}"),
                ));
                continue;
            }
        };
        for entry in entries.flatten() {
            let rel = rel_dir.join(entry.file_name());
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir {
                pending.push(rel);
            } else if rel
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case(extension))
            {
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod macro_tests;
#[cfg(test)]
mod tests;
