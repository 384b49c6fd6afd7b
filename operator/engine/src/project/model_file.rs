//! A model file: `MODEL (...)` header properties turned into a [`Model`], plus its query.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::audit_call::audit_calls;
use super::header::{Lexer, Located, Node, Pos, TokenKind, parse_block, pos_at, source_text};
use super::kind::parse_kind;
use super::values::{
    bool_value, date_value, element_text, list_value, normalize_name, split_property, text_value,
    type_error,
};
use crate::grants::{Grants, GrantsLayer, add_grant};
use crate::macros::{JinjaMacros, MacroContext, MacroError, MacroErrorKind, RuntimeStage};
use crate::model::{AuditCall, Dialect, Model, ModelKind, ProjectConfig};

/// SQLMesh header properties we accept and deliberately ignore: physical-layout hints for
/// other warehouses, documentation and lint settings. None of them changes what data a model
/// holds, so dropping them cannot change results.
pub(crate) const IGNORED_PROPERTIES: &[&str] = &[
    "partitioned_by",
    "clustered_by",
    "physical_properties",
    "virtual_properties",
    "session_properties",
    "table_format",
    "storage_format",
    "column_descriptions",
    "references",
    "formatting",
    "ignored_rules",
];

/// SQLMesh's other dialects: a model written in one is left out by name (Sluice does not
/// transpile), where an unknown dialect is an error.
const FOREIGN_DIALECTS: &[&str] = &[
    "athena",
    "bigquery",
    "clickhouse",
    "doris",
    "drill",
    "fabric",
    "hive",
    "materialize",
    "mysql",
    "oracle",
    "presto",
    "redshift",
    "risingwave",
    "snowflake",
    "sqlite",
    "starrocks",
    "teradata",
    "trino",
    "tsql",
];

/// The project's macros, as its model files may use them.
#[derive(Debug, Default)]
pub(crate) struct ProjectMacros {
    /// `macros/**/*.sql`.
    pub jinja: Vec<JinjaMacros>,
    /// Names of the Python macros of `macros/**/*.py`, with the file defining each.
    pub python: BTreeMap<String, PathBuf>,
}

/// A parsed model and the line of its `name` property (for duplicate-name messages).
pub(crate) struct ParsedModel {
    pub model: Model,
    pub name_line: usize,
    /// `AUDIT (...)` blocks after the model's query, each with the line of its keyword.
    pub audits: Vec<(crate::model::CustomAudit, usize)>,
}

/// What a model file holds: a model Sluice can run, or one whose query needs Python.
pub(crate) enum Parsed {
    Model(Box<ParsedModel>),
    /// `enabled false`: not part of the project, as in SQLMesh.
    Disabled,
    /// Its query calls Python macros: left out, with its descendants, as a Python model is.
    NeedsPython(super::NeedsPython),
}

/// Parses one model file; `rel` is relative to `root`.
pub(crate) fn parse(
    root: &Path,
    rel: &Path,
    src: &str,
    config: &ProjectConfig,
    macros: &ProjectMacros,
) -> Result<Parsed, Vec<Located>> {
    let mut lexer = Lexer::new(src);
    let block = match parse_block(&mut lexer, "MODEL") {
        Ok(Some(block)) => block,
        Ok(None) => {
            return Err(vec![Located::new(
                first_content_pos(src),
                "missing MODEL (...) header at the start of the file",
            )]);
        }
        Err(e) => return Err(vec![e]),
    };

    let mut errors = Vec::new();
    let mut header = Header::default();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for item in &block.properties {
        let Some((key, value)) = split_property(src, item, &mut errors) else {
            continue;
        };
        if let Some(line) = seen.insert(key.clone(), item.pos().line) {
            errors.push(Located::new(
                item.pos(),
                format!("property '{key}' is set twice (first on line {line})"),
            ));
            continue;
        }
        if let Err(e) = header.apply(src, &key, item.pos(), value) {
            errors.push(e);
        }
    }

    if header.enabled == Some(false) && errors.is_empty() {
        return Ok(Parsed::Disabled);
    }
    if let (Some(dialect), Some((name, _))) = (&header.foreign_dialect, &header.name) {
        return Ok(Parsed::NeedsPython(super::NeedsPython {
            path: rel.to_path_buf(),
            name: Some(name.clone()),
            reason: format!(
                "written in the '{dialect}' dialect, which Sluice does not transpile (it runs \
                 duckdb, postgres and spark SQL)"
            ),
        }));
    }
    if let (Some(why), Some((name, _))) = (header.needs_python, &header.name) {
        return Ok(Parsed::NeedsPython(super::NeedsPython {
            path: rel.to_path_buf(),
            name: Some(name.clone()),
            reason: format!("{why}: Sluice does not run Python"),
        }));
    }
    let Some((name, name_pos)) = header.name.clone() else {
        // An invalid name was already reported; only a missing one is news.
        if !seen.contains_key("name") {
            errors.push(Located::new(
                block.keyword_pos,
                "MODEL header has no 'name'",
            ));
        }
        return Err(errors);
    };
    let (kind, kind_pos) = header
        .kind
        .clone()
        .unwrap_or((ModelKind::View, block.keyword_pos));

    let dialect = header.dialect.unwrap_or(config.dialect);
    // Audits defined in the model file follow its query (or, for a SEED, its header).
    let audits_start =
        super::audit_file::query_bounds(src, block.end).map_or(src.len(), |(_, next)| next);
    let inline = super::audit_file::parse_from(rel, src, audits_start);
    errors.extend(inline.errors);
    let src = &src[..audits_start];
    let (mut query, mut query_line) = split_query(src, block.end);
    let mut statements = Body::default();
    let is_query_kind = !matches!(kind, ModelKind::Seed { .. } | ModelKind::External);
    if let Some((text, _)) = &query
        && is_query_kind
        && crate::macros::uses_macros(text)
    {
        let context = ModelContext {
            name: &name,
            kind: &kind,
            dialect,
            config,
            macros,
        };
        match expand_body(src, block.end, &context) {
            Ok(body) if body.query.is_some() => {
                query = body.query.clone();
                query_line = body.query.as_ref().map_or(query_line, |(_, pos)| pos.line);
                statements = body;
            }
            Ok(_) => {
                errors.push(Located::new(
                    pos_at(src, block.end),
                    format!(
                        "{} model '{name}' has no query among its statements (a query starts \
                         with SELECT, WITH, FROM, VALUES or '(' or is a JINJA_QUERY_BEGIN block)",
                        kind.name()
                    ),
                ));
                return Err(errors);
            }
            // Whatever else its header says, a model calling Python macros cannot run here.
            Err(failed) if !failed.python.is_empty() => {
                let names: Vec<String> = failed.python.iter().map(|m| format!("@{m}")).collect();
                return Ok(Parsed::NeedsPython(super::NeedsPython {
                    path: rel.to_path_buf(),
                    name: Some(name),
                    reason: format!(
                        "calls the Python macro(s) {}: Sluice does not run Python",
                        names.join(", ")
                    ),
                }));
            }
            Err(mut failed) => {
                errors.append(&mut failed.problems);
                return Err(errors);
            }
        }
    }
    let query = match (&kind, query) {
        (ModelKind::Seed { .. } | ModelKind::External, Some((_, pos))) => {
            errors.push(Located::new(
                pos,
                format!(
                    "{} models take no query after the MODEL header",
                    kind.name()
                ),
            ));
            None
        }
        (ModelKind::Seed { .. } | ModelKind::External, None) => None,
        (_, Some((text, _))) => Some(text),
        (_, None) => {
            errors.push(Located::new(
                pos_at(src, block.end),
                format!(
                    "{} model '{name}' has no query after the MODEL header",
                    kind.name()
                ),
            ));
            None
        }
    };

    let seed_content = match &kind {
        ModelKind::Seed { path } => match read_seed(root, rel, path) {
            Ok(content) => Some(content),
            Err(message) => {
                errors.push(Located::new(kind_pos, message));
                None
            }
        },
        _ => None,
    };

    if !errors.is_empty() {
        return Err(errors);
    }
    let model = Model {
        name,
        path: rel.to_path_buf(),
        kind,
        dialect,
        cron: header.cron.unwrap_or_else(|| config.cron.clone()),
        start: header.start.or_else(|| config.start.clone()),
        end: header.end,
        owner: header.owner,
        description: header.description,
        grains: header.grains,
        tags: header.tags,
        audits: header.audits,
        depends_on: header.depends_on,
        columns: header.columns,
        query,
        query_line,
        pre_statements: statements.pre,
        post_statements: statements.post,
        seed_content,
        grants: header.grants.unwrap_or_else(|| config.grants.clone()),
        grants_target_layer: header
            .grants_target_layer
            .unwrap_or(config.grants_target_layer),
    };
    Ok(Parsed::Model(Box::new(ParsedModel {
        model,
        name_line: name_pos.line,
        audits: inline.audits,
    })))
}

/// A model's statements after its macros are expanded.
#[derive(Default)]
struct Body {
    pre: Vec<String>,
    /// The query and where it starts in the file.
    query: Option<(String, Pos)>,
    post: Vec<String>,
}

/// Why a model's body did not expand: its problems, and the Python macros it calls when
/// those are all that stopped it.
struct BodyError {
    problems: Vec<Located>,
    python: std::collections::BTreeSet<String>,
}

/// What a model's macros see of the model and its project.
struct ModelContext<'a> {
    name: &'a str,
    kind: &'a ModelKind,
    dialect: Dialect,
    config: &'a ProjectConfig,
    macros: &'a ProjectMacros,
}

/// Expands the macros and Jinja of the text after the header (from byte `start` of `src`)
/// with the project's variables and macros. The run's values (`@start_ds`, `@this_model`)
/// are left for the run; statements run when the model is evaluated, so `@runtime_stage` is
/// `evaluating`.
fn expand_body(src: &str, start: usize, model: &ModelContext) -> Result<Body, BodyError> {
    let text = &src[start..];
    let base = pos_at(src, start);
    let at = |line: usize, column: usize| {
        if line <= 1 {
            Pos {
                line: base.line,
                column: base.column + column.saturating_sub(1),
            }
        } else {
            Pos {
                line: base.line + line - 1,
                column,
            }
        }
    };
    let mut ctx = MacroContext::new(model.name, model.kind.clone(), model.dialect);
    ctx.variables = model.config.variables.clone();
    ctx.gateway_variables = model.config.gateway_variables.clone();
    ctx.gateway = model.config.gateway.clone();
    ctx.runtime_stage = RuntimeStage::Evaluating;
    ctx.python_macros = model.macros.python.keys().cloned().collect();
    ctx.jinja_macros = model.macros.jinja.clone();
    let expanded = crate::macros::expand_for_load(text, &mut ctx).map_err(|errors| {
        let python = if errors.iter().all(|e| e.kind == MacroErrorKind::PythonMacro) {
            errors
                .iter()
                .map(|e| e.construct.trim_start_matches('@').to_lowercase())
                .collect()
        } else {
            Default::default()
        };
        BodyError {
            problems: errors
                .into_iter()
                .map(|e| macro_error(e, at, model.macros))
                .collect(),
            python,
        }
    })?;
    let mut body = Body::default();
    for statement in expanded.statements {
        if statement.is_query {
            body.query = Some((statement.sql, at(statement.line, 1)));
        } else if body.query.is_none() {
            body.pre.push(statement.sql);
        } else {
            body.post.push(statement.sql);
        }
    }
    Ok(body)
}

/// A macro error as a problem of the model file: in the model text, or (for a Jinja macro
/// file) at the start of the model text, naming the macro file.
fn macro_error(e: MacroError, at: impl Fn(usize, usize) -> Pos, macros: &ProjectMacros) -> Located {
    let mut message = format!("{}: {}", e.construct, e.message);
    if e.kind == MacroErrorKind::PythonMacro {
        let name = e.construct.trim_start_matches('@').to_lowercase();
        if let Some(file) = macros.python.get(&name) {
            message = format!(
                "{}: is a Python macro (defined in {}): it needs Python, which Sluice does not \
                 run; write it as a SQL macro (@DEF) or a Jinja macro (macros/*.sql)",
                e.construct,
                super::display_path(file)
            );
        }
    }
    match &e.file {
        Some(file) => Located::new(
            at(1, 1),
            format!(
                "in the Jinja macro at {file}:{}:{}: {message}",
                e.line, e.column
            ),
        ),
        None => Located::new(at(e.line, e.column), message),
    }
}

/// Header properties as parsed so far.
#[derive(Default)]
struct Header {
    name: Option<(String, Pos)>,
    kind: Option<(ModelKind, Pos)>,
    dialect: Option<Dialect>,
    cron: Option<String>,
    start: Option<String>,
    end: Option<String>,
    owner: Option<String>,
    description: Option<String>,
    grains: Vec<String>,
    tags: Vec<String>,
    audits: Vec<AuditCall>,
    depends_on: Vec<String>,
    columns: Vec<(String, String)>,
    grants: Option<Grants>,
    grants_target_layer: Option<GrantsLayer>,
    enabled: Option<bool>,
    /// What of the header needs Python (a `CUSTOM` kind, `signals`), if anything.
    needs_python: Option<&'static str>,
    /// A dialect SQLMesh knows and Sluice does not run (`hive`, `snowflake`, ...).
    foreign_dialect: Option<String>,
}

impl Header {
    fn apply(&mut self, src: &str, key: &str, pos: Pos, value: &[Node]) -> Result<(), Located> {
        match key {
            "name" => self.name = Some((model_name(src, key, pos, value)?, pos)),
            "kind" if is_custom_kind(src, value) => {
                self.needs_python = Some("its CUSTOM kind's materialization is a Python class")
            }
            "kind" => self.kind = Some((parse_kind(src, pos, value)?, pos)),
            "signals" => self.needs_python = Some("its signals are Python functions"),
            "dialect" => {
                let text = text_value(src, key, pos, value)?;
                match Dialect::parse(&text) {
                    Some(dialect) => self.dialect = Some(dialect),
                    None if FOREIGN_DIALECTS.contains(&text.to_ascii_lowercase().as_str()) => {
                        self.foreign_dialect = Some(text)
                    }
                    None => {
                        return Err(Located::new(
                            pos,
                            format!(
                                "unsupported dialect '{text}' (expected duckdb, postgres or \
                                 spark)"
                            ),
                        ));
                    }
                }
            }
            // Expanded before the file is parsed (`blueprints.rs`).
            "blueprints" => {}
            "cron" => self.cron = Some(text_value(src, key, pos, value)?),
            "start" => self.start = Some(date_value(src, key, pos, value)?),
            "end" => self.end = Some(date_value(src, key, pos, value)?),
            "owner" => self.owner = Some(text_value(src, key, pos, value)?),
            "description" => self.description = Some(text_value(src, key, pos, value)?),
            "grain" | "grains" => self.grains.extend(list_value(src, value)),
            "tags" => self.tags = list_value(src, value),
            "audits" => self.audits = audit_calls(src, pos, value)?,
            "depends_on" => {
                self.depends_on = list_value(src, value)
                    .iter()
                    .map(|n| normalize_name(n).map_err(|m| Located::new(pos, m)))
                    .collect::<Result<_, _>>()?
            }
            "columns" => self.columns = columns(src, pos, value)?,
            "enabled" => self.enabled = Some(bool_value(src, key, pos, value)?),
            "grants" => self.grants = Some(grants(src, pos, value)?),
            "grants_target_layer" => {
                let text = text_value(src, key, pos, value)?;
                self.grants_target_layer = Some(GrantsLayer::parse(&text).ok_or_else(|| {
                    Located::new(
                        pos,
                        format!(
                            "'grants_target_layer' is '{text}'; expected virtual, physical or all"
                        ),
                    )
                })?);
            }
            "forward_only" => {
                return Err(Located::new(
                    pos,
                    "'forward_only' belongs inside the kind, e.g. \
                     kind INCREMENTAL_BY_TIME_RANGE (time_column ts, forward_only true)",
                ));
            }
            _ if IGNORED_PROPERTIES.contains(&key) => {}
            _ => return Err(Located::new(pos, format!("unknown MODEL property '{key}'"))),
        }
        Ok(())
    }
}

/// `kind CUSTOM (...)`: a materialization SQLMesh loads from a Python class.
fn is_custom_kind(src: &str, value: &[Node]) -> bool {
    value
        .first()
        .and_then(|n| n.word(src))
        .is_some_and(|w| w.eq_ignore_ascii_case("custom"))
}

/// Position of the first token in the file (past comments), for "missing header" errors.
fn first_content_pos(src: &str) -> Pos {
    let mut lexer = Lexer::new(src);
    match lexer.next_token() {
        Ok(Some(t)) => t.pos,
        _ => lexer.pos(),
    }
}

/// The query after the header: trimmed, without a trailing `;`, with the line it starts on.
/// `None` (and the line after the header) when there is no query.
fn split_query(src: &str, header_end: usize) -> (Option<(String, Pos)>, usize) {
    let rest = &src[header_end..];
    let trimmed_start = rest.len() - rest.trim_start().len();
    let start_pos = pos_at(src, header_end + trimmed_start);
    let text = rest.trim();
    let text = text.strip_suffix(';').unwrap_or(text).trim_end();
    if text.is_empty() {
        (None, start_pos.line)
    } else {
        (Some((text.to_string(), start_pos)), start_pos.line)
    }
}

fn model_name(src: &str, key: &str, pos: Pos, value: &[Node]) -> Result<String, Located> {
    let text = match value {
        [Node::Token(t)] if matches!(t.kind, TokenKind::Str(_)) => {
            text_value(src, key, pos, value)?
        }
        _ => source_text(src, value).to_string(),
    };
    normalize_name(&text).map_err(|m| Located::new(pos, m))
}

/// `columns (id INT, amount DECIMAL(10, 2))`.
fn columns(src: &str, pos: Pos, value: &[Node]) -> Result<Vec<(String, String)>, Located> {
    let [group @ Node::Group { .. }] = value else {
        return Err(type_error(src, "columns", pos, value, "(name TYPE, ...)"));
    };
    group
        .group_items()
        .unwrap_or_default()
        .iter()
        .map(|item| {
            let name = match &item.nodes[0] {
                Node::Token(t) if t.kind == TokenKind::Word => t.text(src).to_ascii_lowercase(),
                Node::Token(t) => match &t.kind {
                    TokenKind::QuotedIdent(s) => s.clone(),
                    _ => String::new(),
                },
                Node::Group { .. } => String::new(),
            };
            if name.is_empty() || item.nodes.len() < 2 {
                return Err(Located::new(
                    item.pos(),
                    format!(
                        "column '{}' needs a name and a type",
                        source_text(src, &item.nodes)
                    ),
                ));
            }
            Ok((name, source_text(src, &item.nodes[1..]).to_string()))
        })
        .collect()
}

/// `grants ('select' = ['bi', 'analyst'], 'insert' = ['etl'])`, as SQLMesh writes it.
fn grants(src: &str, pos: Pos, value: &[Node]) -> Result<Grants, Located> {
    let expected = "('select' = ['role', ...], ...)";
    let [group @ Node::Group { .. }] = value else {
        return Err(type_error(src, "grants", pos, value, expected));
    };
    let mut out = Grants::new();
    for item in group.group_items().unwrap_or_default() {
        let [privilege, Node::Token(op), roles] = item.nodes.as_slice() else {
            return Err(type_error(src, "grants", item.pos(), &item.nodes, expected));
        };
        let privilege_text = element_text(src, std::slice::from_ref(privilege));
        let is_name = matches!(privilege, Node::Token(t) if matches!(t.kind, TokenKind::Str(_) | TokenKind::Word));
        if !is_name || !(op.text(src) == "=" || op.kind == TokenKind::Assign) {
            return Err(type_error(src, "grants", item.pos(), &item.nodes, expected));
        }
        let roles = match roles {
            Node::Group { .. } => list_value(src, std::slice::from_ref(roles)),
            Node::Token(t) if matches!(t.kind, TokenKind::Str(_)) => {
                vec![element_text(src, std::slice::from_ref(roles))]
            }
            _ => return Err(type_error(src, "grants", item.pos(), &item.nodes, expected)),
        };
        add_grant(&mut out, &privilege_text, &roles)
            .map_err(|m| Located::new(item.pos(), format!("grants: {m}")))?;
    }
    Ok(out)
}

/// Reads a seed the way SQLMesh resolves its path: relative to the model file's directory,
/// or to the project root when it starts with `$root/`.
fn read_seed(root: &Path, model_rel: &Path, seed_path: &str) -> Result<String, String> {
    let path = Path::new(seed_path);
    let resolved = if let Ok(rest) = path.strip_prefix("$root") {
        root.join(rest)
    } else if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(model_rel.parent().unwrap_or(Path::new("")))
            .join(path)
    };
    let resolved = lexically_normal(&resolved);
    std::fs::read_to_string(&resolved).map_err(|e| {
        let shown = resolved
            .strip_prefix(lexically_normal(root))
            .unwrap_or(&resolved);
        format!(
            "cannot read seed file '{seed_path}' (resolved to {}): {e}; seed paths are relative \
             to the model file's directory, or to the project root when they start with $root/",
            shown.display()
        )
    })
}

/// Removes `.` and `..` components without touching the filesystem.
fn lexically_normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}
