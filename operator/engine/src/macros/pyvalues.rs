//! What Jinja needs to behave like SQLMesh's Jinja2 on the Python side: values printed the
//! way Python prints them (`True`, `None`, `['a', 'b']`, `3.0`), and lists that
//! `{% do xs.append(x) %}` can grow (Jinja2 lists are Python lists; MiniJinja's are
//! immutable, so list literals in templates are rewritten to build a growable list).

use std::fmt::Write;
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, ObjectRepr, Rest, ValueKind};
use minijinja::{Error, ErrorKind, State, Value};

use super::eval::python_float;

/// The function that list literals are rewritten to call.
pub(crate) const LIST_FUNCTION: &str = "__sluice_list";

/// A Python-like list: `append`, `extend`, `insert`, `pop`.
#[derive(Debug, Default)]
pub(crate) struct List(Mutex<Vec<Value>>);

impl List {
    pub fn value(items: Rest<Value>) -> Value {
        Value::from_object(List(Mutex::new(items.0)))
    }

    fn items(&self) -> std::sync::MutexGuard<'_, Vec<Value>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Object for List {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let items = self.items();
        let i = key.as_i64()?;
        let i = if i < 0 { items.len() as i64 + i } else { i };
        usize::try_from(i).ok().and_then(|i| items.get(i).cloned())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.items().clone())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let mut items = self.items();
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("list.{method}() takes {n} argument(s)"),
                ))
            }
        };
        match method {
            "append" => {
                arity(1)?;
                items.push(args[0].clone());
            }
            "extend" => {
                arity(1)?;
                items.extend(args[0].try_iter()?);
            }
            "insert" => {
                arity(2)?;
                let i = args[0].as_i64().unwrap_or(0).clamp(0, items.len() as i64) as usize;
                items.insert(i, args[1].clone());
            }
            "pop" => {
                let popped = match args.first().and_then(Value::as_i64) {
                    Some(i) if i >= 0 && (i as usize) < items.len() => {
                        Some(items.remove(i as usize))
                    }
                    Some(_) => None,
                    None => items.pop(),
                };
                return popped.ok_or_else(|| {
                    Error::new(ErrorKind::InvalidOperation, "pop from an empty list")
                });
            }
            _ => return Err(Error::from(ErrorKind::UnknownMethod)),
        }
        Ok(Value::from(()))
    }
}

/// `str(value)` in Python.
pub(crate) fn py_str(v: &Value) -> String {
    match v.kind() {
        ValueKind::Undefined => String::new(),
        ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        _ => py_repr(v),
    }
}

/// `repr(value)` in Python.
pub(crate) fn py_repr(v: &Value) -> String {
    match v.kind() {
        ValueKind::Undefined => String::new(),
        ValueKind::None => "None".into(),
        ValueKind::Bool => if v.is_true() { "True" } else { "False" }.into(),
        ValueKind::Number if !v.is_integer() => match f64::try_from(v.clone()) {
            Ok(f) => python_float(f),
            Err(_) => v.to_string(),
        },
        ValueKind::String => py_quote(v.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<String> = v
                .try_iter()
                .map(|it| it.map(|x| py_repr(&x)).collect())
                .unwrap_or_default();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map => {
            let mut out = String::from("{");
            if let Ok(keys) = v.try_iter() {
                for (i, k) in keys.enumerate() {
                    let item = v.get_item(&k).unwrap_or_default();
                    let sep = if i > 0 { ", " } else { "" };
                    let _ = write!(out, "{sep}{}: {}", py_repr(&k), py_repr(&item));
                }
            }
            out + "}"
        }
        _ => v.to_string(),
    }
}

/// A string as Python's `repr` writes it.
fn py_quote(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::new();
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// A template with its list literals rewritten; positions can be mapped back.
pub(crate) struct Rewritten {
    pub text: String,
    /// Where (in `text`) a `[` was replaced by the longer call opening.
    inserts: Vec<usize>,
}

impl Rewritten {
    /// The offset in the original template of an offset in the rewritten one.
    pub fn original(&self, offset: usize) -> usize {
        let extra = LIST_FUNCTION.len(); // `[` (1 char) became `NAME(` (len + 1 chars)
        let before = self.inserts.iter().filter(|&&p| p < offset).count();
        offset.saturating_sub(before * extra)
    }
}

const LITERAL_AFTER_WORDS: &[&str] = &["in", "and", "or", "not", "if", "else", "is", "do"];

/// Rewrites list literals inside `{{ }}` and `{% %}` to growable lists.
pub(crate) fn rewrite_lists(src: &str) -> Rewritten {
    let mut out = String::with_capacity(src.len());
    let mut inserts = Vec::new();
    let mut rest = src;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let close = match rest.get(..2) {
            Some("{{") => "}}",
            Some("{%") => "%}",
            Some("{#") => {
                let end = rest.find("#}").map_or(rest.len(), |e| e + 2);
                out.push_str(&rest[..end]);
                rest = &rest[end..];
                continue;
            }
            _ => {
                out.push('{');
                rest = &rest[1..];
                continue;
            }
        };
        out.push_str(&rest[..2]);
        rest = &rest[2..];
        let used = rewrite_tag(rest, close, &mut out, &mut inserts);
        rest = &rest[used..];
    }
    out.push_str(rest);
    Rewritten { text: out, inserts }
}

/// Copies one tag's content (up to and including `close`), rewriting list literals;
/// returns the bytes of `src` used.
fn rewrite_tag(src: &str, close: &str, out: &mut String, inserts: &mut Vec<usize>) -> usize {
    let mut brackets: Vec<bool> = Vec::new();
    let mut braces = 0usize;
    let mut chars = src.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if braces == 0 && src[i..].starts_with(close) {
            out.push_str(close);
            return i + close.len();
        }
        match c {
            '\'' | '"' => {
                out.push(c);
                while let Some((_, d)) = chars.next() {
                    out.push(d);
                    if d == '\\' {
                        if let Some((_, e)) = chars.next() {
                            out.push(e);
                        }
                    } else if d == c {
                        break;
                    }
                }
            }
            '[' => {
                let literal = starts_literal(out);
                brackets.push(literal);
                if literal {
                    inserts.push(out.len());
                    out.push_str(LIST_FUNCTION);
                    out.push('(');
                } else {
                    out.push('[');
                }
            }
            ']' => out.push(if brackets.pop() == Some(true) {
                ')'
            } else {
                ']'
            }),
            '{' => {
                braces += 1;
                out.push(c);
            }
            '}' => {
                braces = braces.saturating_sub(1);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    src.len()
}

/// Whether a `[` after `before` opens a list (rather than indexing what precedes it).
fn starts_literal(before: &str) -> bool {
    let trimmed = before.trim_end();
    match trimmed.chars().last() {
        Some(c) if c.is_alphanumeric() || c == '_' => {
            let word_start = trimmed
                .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map_or(0, |p| p + 1);
            LITERAL_AFTER_WORDS.contains(&&trimmed[word_start..])
        }
        Some(')' | ']' | '}' | '\'' | '"') => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_literals_become_growable_and_indexing_stays() {
        let r = rewrite_lists("a[0] {% set xs = [] %}{{ ys[1] }}{% for x in [1, [2]] %}{# [ #}");
        assert_eq!(
            r.text,
            "a[0] {% set xs = __sluice_list() %}{{ ys[1] }}{% for x in __sluice_list(1, __sluice_list(2)) %}{# [ #}"
        );
        let pos = r.text.find("ys[1]").unwrap_or_default();
        assert_eq!(r.original(pos), "a[0] {% set xs = [] %}{{ ".len());
    }

    #[test]
    fn python_printing() {
        let list: Value = vec![Value::from("a"), Value::from(1), Value::from(())]
            .into_iter()
            .collect();
        assert_eq!(py_str(&list), "['a', 1, None]");
        assert_eq!(py_str(&Value::from(true)), "True");
        assert_eq!(py_str(&Value::from(3.0)), "3.0");
        assert_eq!(py_quote("it's"), "\"it's\"");
    }
}
