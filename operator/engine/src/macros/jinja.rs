//! Jinja in model files (`JINJA_QUERY_BEGIN; ... JINJA_END;`,
//! `JINJA_STATEMENT_BEGIN; ... JINJA_END;`) and in config files, with SQLMesh's context.
//!
//! A block is rendered first; its output is then SQL like any other, SQLMesh macros
//! included. The context of a model block: `var(name, default)`, `blueprint_var(name,
//! default)`, `gateway()`, `this_model`, `runtime_stage`, the time variables (`start_ds`,
//! ...; FULL and VIEW queries only get `execution_*`, the others print as empty, as in
//! SQLMesh), and the macros of the project's `macros/*.sql`. `env_var` exists only in config
//! files, as in SQLMesh.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use minijinja::value::Rest;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};

use super::expander::line_col;
use super::lexer::{Kind, Tok, lex, trim};
use super::pyvalues::{LIST_FUNCTION, List, Rewritten, py_str, rewrite_lists};
use super::time::{self, TimeValue};
use super::value::unquote_string;
use super::{MACRO_PREFIX, MacroContext, MacroError, MacroErrorKind};
use crate::model::ModelKind;

/// What a Jinja block prints for `{{ name }}` until the run fills it in.
pub(crate) fn jinja_placeholder(name: &str) -> String {
    if name == "this_model" {
        format!("{MACRO_PREFIX}this_model")
    } else {
        format!("{MACRO_PREFIX}{}__jinja", name.to_ascii_lowercase())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockKind {
    Query,
    Statement,
}

/// A stretch of a model file: plain SQL, or the template of a Jinja block.
pub(crate) struct Piece<'s> {
    pub text: &'s str,
    /// Byte offset of `text` in the model text.
    pub origin: usize,
    /// For a Jinja block: its kind and the offset of its `JINJA_..._BEGIN` marker.
    pub jinja: Option<(BlockKind, usize)>,
}

const MODULE: &str = "__sluice_macros__.sql";
const MODEL: &str = "model.sql";

/// Splits a model's text at its Jinja blocks (the markers themselves are dropped).
pub(crate) fn split_blocks<'s>(sql: &'s str, errors: &mut Vec<MacroError>) -> Vec<Piece<'s>> {
    let mut pieces = Vec::new();
    let mut offset = 0;
    'outer: while offset < sql.len() {
        let toks = lex(&sql[offset..]);
        let mut at_start = true;
        for (i, t) in toks.iter().enumerate() {
            if t.is_trivia() {
                continue;
            }
            let kind = match t.text.to_ascii_uppercase().as_str() {
                "JINJA_QUERY_BEGIN" if at_start => Some(BlockKind::Query),
                "JINJA_STATEMENT_BEGIN" if at_start => Some(BlockKind::Statement),
                _ => None,
            };
            at_start = t.is_punct(";");
            let Some(kind) = kind.filter(|_| t.kind == Kind::Word) else {
                continue;
            };
            let Some(semi) = toks[i + 1..]
                .iter()
                .find(|t| !t.is_trivia())
                .filter(|t| t.is_punct(";"))
            else {
                continue;
            };
            let marker = offset + t.pos;
            let start = offset + semi.pos + 1;
            pieces.push(Piece {
                text: &sql[offset..marker],
                origin: offset,
                jinja: None,
            });
            let Some((end, resume)) = block_end(sql, start) else {
                let (line, column) = line_col(sql, marker);
                errors.push(MacroError {
                    line,
                    column,
                    file: None,
                    construct: t.text.clone(),
                    kind: MacroErrorKind::Syntax,
                    message: "the Jinja block has no JINJA_END;".into(),
                });
                return pieces;
            };
            pieces.push(Piece {
                text: &sql[start..end],
                origin: start,
                jinja: Some((kind, marker)),
            });
            offset = resume;
            continue 'outer;
        }
        pieces.push(Piece {
            text: &sql[offset..],
            origin: offset,
            jinja: None,
        });
        break;
    }
    pieces
}

/// Where the `JINJA_END;` closing a block that starts at `from` begins, and ends.
fn block_end(sql: &str, from: usize) -> Option<(usize, usize)> {
    let upper = sql.to_ascii_uppercase();
    let mut search = from;
    while let Some(found) = upper[search..].find("JINJA_END") {
        let at = search + found;
        let after = at + "JINJA_END".len();
        let preceded = upper[..at]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        let rest = &sql[after..];
        let trimmed = rest.trim_start();
        if !preceded && (trimmed.is_empty() || trimmed.starts_with(';')) {
            let semi = after + (rest.len() - trimmed.len());
            return Some((at, (semi + 1).min(sql.len())));
        }
        search = after;
    }
    None
}

/// A block rendered: its text, and the project variables `var()` read.
pub(crate) struct Rendered {
    pub text: String,
    pub variables: BTreeSet<String>,
}

/// The project's Jinja macros, concatenated into one module so that they see each other.
struct Module {
    text: Rewritten,
    /// (first line in the module, file path, file source)
    files: Vec<(usize, String, String)>,
}

impl Module {
    fn new(ctx: &MacroContext) -> Module {
        let mut text = String::new();
        let mut files = Vec::new();
        for m in &ctx.jinja_macros {
            files.push((
                text.matches('\n').count() + 1,
                m.path.clone(),
                m.source.clone(),
            ));
            text.push_str(&m.source);
            text.push('\n');
        }
        Module {
            text: rewrite_lists(&text),
            files,
        }
    }
}

/// Renders one Jinja block of the model text `sql`.
pub(crate) fn render_block(
    ctx: &MacroContext,
    sql: &str,
    piece: &Piece,
    kind: BlockKind,
) -> Result<Rendered, MacroError> {
    let used = Arc::new(Mutex::new(BTreeSet::new()));
    let restricted =
        kind == BlockKind::Query && matches!(ctx.kind, ModelKind::Full | ModelKind::View);
    let mut env = environment();
    add_model_globals(&mut env, ctx, restricted, &used);
    let module = Module::new(ctx);
    let located = |e: Error, prefix: usize, template: &Rewritten| {
        locate(e, sql, piece, prefix, template, &module)
    };
    let template = rewrite_lists(piece.text);
    let mut prefix = String::new();
    let mut module_vars = Default::default();
    if !module.files.is_empty() {
        env.add_template_owned(MODULE, module.text.text.clone())
            .map_err(|e| located(e, 0, &template))?;
        let tmpl = env
            .get_template(MODULE)
            .map_err(|e| located(e, 0, &template))?;
        module_vars = tmpl.undeclared_variables(true);
        let names = tmpl
            .render_captured(())
            .map_err(|e| located(e, 0, &template))?
            .state()
            .exports()
            .join(", ");
        if !names.is_empty() {
            prefix = format!("{{% from \"{MODULE}\" import {names} %}}");
        }
    }
    let source = format!("{prefix}{}", template.text);
    let tmpl = env
        .template_from_named_str(MODEL, &source)
        .map_err(|e| located(e, prefix.len(), &template))?;
    let mut referenced = tmpl.undeclared_variables(true);
    referenced.extend(module_vars);
    if let Some(missing) = unknown_run_time_value(ctx, restricted, &referenced) {
        let (line, column) = line_col(sql, piece.jinja.map_or(piece.origin, |(_, m)| m));
        return Err(MacroError {
            line,
            column,
            file: None,
            construct: format!("{{{{ {missing} }}}}"),
            kind: MacroErrorKind::NeedsRunTime,
            message: format!(
                "the Jinja block uses {missing}, which is only known when the model runs"
            ),
        });
    }
    let text = tmpl
        .render(())
        .map_err(|e| located(e, prefix.len(), &template))?;
    let variables = used.lock().map(|u| u.clone()).unwrap_or_default();
    Ok(Rendered { text, variables })
}

/// A time variable (or `this_model`) the template reads whose value the caller did not give.
fn unknown_run_time_value(
    ctx: &MacroContext,
    restricted: bool,
    referenced: &std::collections::HashSet<String>,
) -> Option<String> {
    if ctx.placeholders {
        return None;
    }
    if ctx.this_model.is_none() && referenced.contains("this_model") {
        return Some("this_model".into());
    }
    if ctx.times.is_some() {
        return None;
    }
    let mut names: Vec<&String> = referenced
        .iter()
        .filter(|n| time::parse(n).is_some_and(|(p, _)| !restricted || p == time::Part::Execution))
        .collect();
    names.sort();
    names.first().map(|n| n.to_string())
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.set_formatter(|out, _state, value| {
        out.write_str(&py_str(value))
            .map_err(|e| Error::new(ErrorKind::WriteFailure, e.to_string()))
    });
    env.add_function(LIST_FUNCTION, List::value);
    env
}

fn json_to_jinja(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::from(()),
        J::Bool(b) => Value::from(*b),
        J::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Value::from(i),
            (None, Some(f)) => Value::from(f),
            _ => Value::from(n.to_string()),
        },
        J::String(s) => Value::from(s.as_str()),
        J::Array(items) => items.iter().map(json_to_jinja).collect(),
        J::Object(map) => Value::from(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_jinja(v)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}

/// A blueprint variable (SQL text) as a Jinja value: literals become values, anything else
/// its text.
fn blueprint_to_jinja(sql: &str) -> Value {
    let toks: Vec<Tok> = trim(&lex(sql)).to_vec();
    match toks.as_slice() {
        [t] if t.kind == Kind::Str => Value::from(unquote_string(&t.text)),
        [t] if t.kind == Kind::Number => t
            .text
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| t.text.parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| Value::from(t.text.as_str())),
        [t] if t.is_word("true") || t.is_word("false") => Value::from(t.is_word("true")),
        [t] if t.is_word("null") => Value::from(()),
        _ => Value::from(sql.trim()),
    }
}

fn lookup<'m, V>(map: &'m BTreeMap<String, V>, name: &str) -> Option<&'m V> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn add_model_globals(
    env: &mut Environment<'static>,
    ctx: &MacroContext,
    restricted: bool,
    used: &Arc<Mutex<BTreeSet<String>>>,
) {
    let mut project = ctx.variables.clone();
    project.extend(ctx.gateway_variables.clone());
    let record = Arc::clone(used);
    env.add_function("var", move |name: String, default: Option<Value>| {
        let found = lookup(&project, &name).map(json_to_jinja);
        if found.is_some() {
            record
                .lock()
                .map(|mut u| u.insert(name.to_lowercase()))
                .ok();
        }
        found.or(default).unwrap_or(Value::from(()))
    });
    let blueprint = ctx.blueprint_variables.clone();
    let record = Arc::clone(used);
    env.add_function(
        "blueprint_var",
        move |name: String, default: Option<Value>| {
            let found = lookup(&blueprint, &name).map(|s| blueprint_to_jinja(s));
            if found.is_some() {
                record
                    .lock()
                    .map(|mut u| u.insert(name.to_lowercase()))
                    .ok();
            }
            found.or(default).unwrap_or(Value::from(()))
        },
    );
    let gateway = ctx.gateway.clone();
    env.add_function("gateway", move || {
        gateway.clone().map(Value::from).unwrap_or_default()
    });
    env.add_function("env_var", |_: Rest<Value>| -> Result<Value, Error> {
        Err(Error::new(
            ErrorKind::InvalidOperation,
            "env_var() is only available in config.yaml, as in SQLMesh: put the value in a \
             project variable and read it with var()",
        ))
    });
    match &ctx.this_model {
        Some(table) => env.add_global("this_model", table.clone()),
        None if ctx.placeholders => env.add_global("this_model", jinja_placeholder("this_model")),
        None => {}
    }
    env.add_global("runtime_stage", ctx.runtime_stage.as_str());
    let Some(times) = &ctx.times else {
        if ctx.placeholders {
            for name in time::all_names() {
                let Some((part, _)) = time::parse(&name) else {
                    continue;
                };
                if !restricted || part == time::Part::Execution {
                    env.add_global(name.clone(), jinja_placeholder(&name));
                }
            }
        }
        return;
    };
    for name in time::all_names() {
        let Some((part, suffix)) = time::parse(&name) else {
            continue;
        };
        if restricted && part != time::Part::Execution {
            continue;
        }
        let value = match time::jinja(part, suffix, times) {
            TimeValue::Text(s) => Value::from(s),
            TimeValue::Float(f) => Value::from(f),
            TimeValue::Int(i) => Value::from(i),
        };
        env.add_global(name, value);
    }
}

/// A MiniJinja error as a [`MacroError`] located in the model text or in a macro file.
fn locate(
    e: Error,
    sql: &str,
    piece: &Piece,
    prefix: usize,
    template: &Rewritten,
    module: &Module,
) -> MacroError {
    let message = describe(&e);
    let in_module = e.name() == Some(MODULE);
    let range = e.range().map(|r| r.start);
    if in_module {
        let line = e.line().unwrap_or(1);
        let (first, path, source) = module
            .files
            .iter()
            .rev()
            .find(|(first, _, _)| *first <= line)
            .cloned()
            .unwrap_or_default();
        let offset = range.map_or(0, |r| module.text.original(r));
        let module_text_before: usize = module
            .files
            .iter()
            .take_while(|(f, _, _)| *f < first)
            .map(|(_, _, s)| s.len() + 1)
            .sum();
        let local = offset.saturating_sub(module_text_before).min(source.len());
        let (l, c) = line_col(&source, local);
        return MacroError {
            line: if range.is_some() { l } else { line + 1 - first },
            column: if range.is_some() { c } else { 1 },
            file: Some(path),
            construct: tag_around(&source, local),
            kind: MacroErrorKind::Jinja,
            message,
        };
    }
    let offset = match range {
        Some(r) => piece.origin + template.original(r.saturating_sub(prefix)),
        None => {
            let line = e.line().unwrap_or(1);
            let skip: usize = piece
                .text
                .split_inclusive('\n')
                .take(line - 1)
                .map(str::len)
                .sum();
            piece.origin + skip
        }
    };
    let (line, column) = line_col(sql, offset);
    MacroError {
        line,
        column,
        file: None,
        construct: tag_around(sql, offset),
        kind: MacroErrorKind::Jinja,
        message,
    }
}

/// The Jinja tag (`{{ ... }}` / `{% ... %}`) around an offset, for messages.
fn tag_around(src: &str, offset: usize) -> String {
    let offset = offset.min(src.len());
    let start = [src[..offset].rfind("{{"), src[..offset].rfind("{%")]
        .into_iter()
        .flatten()
        .max();
    let Some(start) = start else {
        return "Jinja".into();
    };
    let end = [src[start..].find("}}"), src[start..].find("%}")]
        .into_iter()
        .flatten()
        .min()
        .map_or(src.len(), |e| start + e + 2);
    let tag = &src[start..end];
    if tag.chars().count() > 80 {
        format!("{}...", tag.chars().take(77).collect::<String>())
    } else {
        tag.to_string()
    }
}

fn describe(e: &Error) -> String {
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    format!("{}{detail}", e.kind())
}

/// Renders Jinja in a config file (config.yaml): `{{ env_var('NAME', 'default') }}` reads
/// `env_vars` (a missing variable without default prints `None`, as in SQLMesh).
pub fn render_config(
    text: &str,
    env_vars: &BTreeMap<String, String>,
) -> Result<String, MacroError> {
    let mut env = environment();
    let vars = env_vars.clone();
    env.add_function("env_var", move |name: String, default: Option<Value>| {
        vars.get(&name)
            .map(|v| Value::from(v.as_str()))
            .or(default)
            .unwrap_or(Value::from(()))
    });
    let template = rewrite_lists(text);
    let piece = Piece {
        text,
        origin: 0,
        jinja: None,
    };
    let module = Module {
        text: rewrite_lists(""),
        files: Vec::new(),
    };
    env.render_str(&template.text, ())
        .map_err(|e| locate(e, text, &piece, 0, &template, &module))
}
