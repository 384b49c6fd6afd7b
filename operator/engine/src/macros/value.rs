//! What a macro expression evaluates to, and how such a value is written back as SQL.

use std::rc::Rc;

use super::lexer::{Kind, Tok, lex, text, trim};

/// A macro value. SQL fragments are kept as tokens, so that substituting one into a lambda
/// body is textual, as in SQLMesh (`x -> x * 2` applied to `a + 1` gives `a + 1 * 2`).
#[derive(Debug, Clone)]
pub(crate) enum Val {
    /// An expression, statement or any other SQL text.
    Sql(Vec<Tok>),
    /// `[a, b]`: one value that is a list (SQL array when written out).
    Array(Vec<Val>),
    /// `(a, b)`: a list variable from the project, written out as a tuple.
    Tuple(Vec<Val>),
    /// Several values produced by one macro (`@EACH`): spliced into the surrounding list.
    Many(Vec<Val>),
    /// `x -> body` / `(x, y) -> body`.
    Lambda(Rc<Lambda>),
    /// A macro that produced nothing (`@IF` false without else): its list item is removed.
    Nothing,
}

#[derive(Debug)]
pub(crate) struct Lambda {
    /// Parameter names, lower-cased.
    pub params: Vec<String>,
    pub body: Vec<Tok>,
}

/// A literal value, when a fragment is exactly one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Null,
    Bool(bool),
    Number(String),
    Str(String),
}

/// How a list is written when it comes from the project's variables.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ListStyle {
    /// `@list_var`: `(1, 2, 3)`, fit for `IN @list_var`.
    Tuple,
    /// `@VAR('list_var')`: `[1, 2, 3]`.
    Array,
}

impl Val {
    /// SQL text as a value; its tokens are positioned at `pos`.
    pub fn sql(sql: &str, pos: usize) -> Val {
        Val::Sql(at(lex(sql), pos))
    }

    pub fn word(word: &str, pos: usize) -> Val {
        Val::Sql(vec![Tok::new(Kind::Word, word, pos)])
    }

    pub fn string(s: &str, pos: usize) -> Val {
        Val::Sql(vec![Tok::new(Kind::Str, quote_string(s), pos)])
    }

    /// The value written as SQL tokens.
    pub fn tokens(&self, pos: usize) -> Vec<Tok> {
        let punct = |p: &str| Tok::new(Kind::Punct, p, pos);
        let list = |items: &[Val], open: Option<(&str, &str)>| {
            let mut out = Vec::new();
            if let Some((o, _)) = open {
                out.push(punct(o));
            }
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(punct(","));
                    out.push(Tok::new(Kind::Space, " ", pos));
                }
                out.extend(item.tokens(pos));
            }
            if let Some((_, c)) = open {
                out.push(punct(c));
            }
            out
        };
        match self {
            Val::Sql(toks) => trim(toks).to_vec(),
            Val::Array(items) => list(items, Some(("[", "]"))),
            Val::Tuple(items) => list(items, Some(("(", ")"))),
            Val::Many(items) => list(items, None),
            Val::Lambda(_) | Val::Nothing => Vec::new(),
        }
    }

    /// The value written as SQL text.
    pub fn text(&self) -> String {
        text(&self.tokens(0))
    }

    /// The literal this value is, if it is exactly one (a negative number included).
    pub fn literal(&self) -> Option<Literal> {
        let Val::Sql(toks) = self else { return None };
        let toks: Vec<&Tok> = toks.iter().filter(|t| !t.is_trivia()).collect();
        match toks.as_slice() {
            [t] => match t.kind {
                Kind::Str => Some(Literal::Str(unquote_string(&t.text))),
                Kind::Number => Some(Literal::Number(t.text.clone())),
                Kind::Word if t.text.eq_ignore_ascii_case("null") => Some(Literal::Null),
                Kind::Word if t.text.eq_ignore_ascii_case("true") => Some(Literal::Bool(true)),
                Kind::Word if t.text.eq_ignore_ascii_case("false") => Some(Literal::Bool(false)),
                _ => None,
            },
            [minus, n] if minus.is_punct("-") && n.kind == Kind::Number => {
                Some(Literal::Number(format!("-{}", n.text)))
            }
            _ => None,
        }
    }

    /// The content of a string literal.
    pub fn as_str(&self) -> Option<String> {
        match self.literal() {
            Some(Literal::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Val::Nothing) || self.literal() == Some(Literal::Null)
    }

    /// The items of a list value; any other value is a list of itself.
    pub fn items(&self) -> Vec<Val> {
        match self {
            Val::Array(items) | Val::Tuple(items) | Val::Many(items) => items.clone(),
            Val::Nothing => Vec::new(),
            other => vec![other.clone()],
        }
    }

    /// The text the value stands for inside an identifier (`col_@x`, `@{x}`): a string's
    /// content, a number's or an identifier's text. `None` for lists and functions.
    pub fn name(&self) -> Option<String> {
        if let Some(Literal::Str(s)) = self.literal() {
            return Some(s);
        }
        match self {
            Val::Sql(toks) => {
                let toks = trim(toks);
                if toks.len() == 1 && toks[0].kind == Kind::QuotedIdent {
                    return Some(unquote_ident(&toks[0].text));
                }
                Some(
                    toks.iter()
                        .filter(|t| !t.is_trivia())
                        .map(|t| t.text.as_str())
                        .collect(),
                )
            }
            _ => None,
        }
    }

    /// The `@name` tokens left for run time that the value contains.
    pub fn deferred(&self) -> Option<String> {
        match self {
            Val::Sql(toks) => toks
                .iter()
                .find(|t| t.kind == Kind::Var)
                .map(|t| t.text.clone()),
            Val::Array(items) | Val::Tuple(items) | Val::Many(items) => {
                items.iter().find_map(Val::deferred)
            }
            _ => None,
        }
    }

    /// A project variable (JSON-like) as a macro value.
    pub fn from_json(value: &serde_json::Value, lists: ListStyle, pos: usize) -> Val {
        use serde_json::Value as J;
        match value {
            J::Null => Val::word("NULL", pos),
            J::Bool(b) => Val::word(if *b { "TRUE" } else { "FALSE" }, pos),
            J::Number(n) => Val::Sql(vec![Tok::new(Kind::Number, n.to_string(), pos)]),
            J::String(s) => Val::string(s, pos),
            J::Array(items) => {
                let items = items
                    .iter()
                    .map(|v| Val::from_json(v, ListStyle::Array, pos))
                    .collect();
                match lists {
                    ListStyle::Tuple => Val::Tuple(items),
                    ListStyle::Array => Val::Array(items),
                }
            }
            J::Object(map) => {
                let keys = map.keys().map(|k| Val::string(k, pos)).collect();
                let values = map
                    .values()
                    .map(|v| Val::from_json(v, ListStyle::Array, pos))
                    .collect();
                let args = Val::Many(vec![Val::Array(keys), Val::Array(values)]);
                Val::sql(&format!("MAP({})", args.text()), pos)
            }
        }
    }
}

/// Moves every token to `pos`.
pub(crate) fn at(mut toks: Vec<Tok>, pos: usize) -> Vec<Tok> {
    for t in &mut toks {
        t.pos = pos;
    }
    toks
}

/// `it's` → `'it''s'`.
pub(crate) fn quote_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `'it''s'` → `it's`.
pub(crate) fn unquote_string(s: &str) -> String {
    s.strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or(s)
        .replace("''", "'")
}

/// `"a""b"` → `a"b`.
pub(crate) fn unquote_ident(s: &str) -> String {
    let quote = if s.starts_with('`') { "`" } else { "\"" };
    s.strip_prefix(quote)
        .and_then(|s| s.strip_suffix(quote))
        .unwrap_or(s)
        .replace(&format!("{quote}{quote}"), quote)
}

/// `a b` → `"a b"`.
pub(crate) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// An identifier made by a macro (`@{x}`, `col_@x`): written bare when it is a plain name,
/// otherwise quoted and lower-cased, which is what SQLMesh's identifier normalization makes
/// of it.
pub(crate) fn identifier(name: &str, pos: usize) -> Tok {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    if plain {
        Tok::new(Kind::Word, name, pos)
    } else {
        Tok::new(Kind::QuotedIdent, quote_ident(&name.to_lowercase()), pos)
    }
}
