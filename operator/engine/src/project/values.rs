//! Typed readers for header property values, shared by MODEL and AUDIT blocks.

use super::header::{Item, Located, Node, Pos, TokenKind, source_text};
use crate::model::split_name;

/// Splits `key value...` into the lower-cased key and the value nodes.
pub(crate) fn split_property<'n>(
    src: &str,
    item: &'n Item,
    errors: &mut Vec<Located>,
) -> Option<(String, &'n [Node])> {
    let Some(key) = item.nodes[0].word(src) else {
        errors.push(Located::new(
            item.pos(),
            format!(
                "expected a property name, found '{}'",
                source_text(src, &item.nodes)
            ),
        ));
        return None;
    };
    let key = key.to_ascii_lowercase();
    if item.nodes.len() < 2 {
        errors.push(Located::new(
            item.pos(),
            format!("property '{key}' has no value"),
        ));
        return None;
    }
    Some((key, &item.nodes[1..]))
}

fn single<'n>(src: &str, key: &str, pos: Pos, value: &'n [Node]) -> Result<&'n Node, Located> {
    match value {
        [node] => Ok(node),
        _ => Err(Located::new(
            pos,
            format!(
                "'{key}' expects a single value, found '{}'",
                source_text(src, value)
            ),
        )),
    }
}

/// A name or `'string'` value.
pub(crate) fn text_value(
    src: &str,
    key: &str,
    pos: Pos,
    value: &[Node],
) -> Result<String, Located> {
    match single(src, key, pos, value)? {
        Node::Token(t) => match &t.kind {
            TokenKind::Str(s) | TokenKind::QuotedIdent(s) => Ok(s.clone()),
            TokenKind::Word => Ok(t.text(src).to_string()),
            _ => Err(type_error(
                src,
                key,
                pos,
                value,
                "a name or a 'quoted string'",
            )),
        },
        Node::Group { .. } => Err(type_error(
            src,
            key,
            pos,
            value,
            "a name or a 'quoted string'",
        )),
    }
}

/// A `'string'`, or an unquoted date/time such as `2024-01-01`.
pub(crate) fn date_value(
    src: &str,
    key: &str,
    pos: Pos,
    value: &[Node],
) -> Result<String, Located> {
    // A quoted date (SQLMesh also takes a double-quoted one): checked now, so a bad one is
    // reported with the project's other problems rather than when a plan first needs it.
    if let [Node::Token(t)] = value
        && let TokenKind::Str(s) | TokenKind::QuotedIdent(s) = &t.kind
    {
        if crate::intervals::parse_time(s, 0).is_ok() {
            return Ok(s.clone());
        }
        return Err(type_error(
            src,
            key,
            pos,
            value,
            "a date such as '2024-01-01', a time, or now / today / yesterday",
        ));
    }
    let text = source_text(src, value);
    let date_like = value.iter().all(|n| matches!(n, Node::Token(_)))
        && text.starts_with(|c: char| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || "-:T .".contains(c));
    if date_like {
        Ok(text.to_string())
    } else {
        Err(type_error(
            src,
            key,
            pos,
            value,
            "a date such as '2024-01-01'",
        ))
    }
}

pub(crate) fn type_error(
    src: &str,
    key: &str,
    pos: Pos,
    value: &[Node],
    expected: &str,
) -> Located {
    Located::new(
        pos,
        format!(
            "'{key}' expects {expected}, found '{}'",
            source_text(src, value)
        ),
    )
}

/// Elements of `(a, b)` / `[a, b]`, or the single value itself. Quoted strings and identifiers
/// are unquoted; anything else keeps its source text.
pub(crate) fn list_value(src: &str, value: &[Node]) -> Vec<String> {
    match array_items(src, value) {
        [group @ Node::Group { .. }] => group
            .group_items()
            .unwrap_or_default()
            .iter()
            .map(|item| element_text(src, &item.nodes))
            .collect(),
        _ => vec![element_text(src, value)],
    }
}

/// `ARRAY[a, b]` (older SQLMesh projects write lists so) as the list `[a, b]`.
pub(crate) fn array_items<'n>(src: &str, value: &'n [Node]) -> &'n [Node] {
    match value {
        [word, group @ Node::Group { .. }]
            if word
                .word(src)
                .is_some_and(|w| w.eq_ignore_ascii_case("array")) =>
        {
            std::slice::from_ref(group)
        }
        _ => value,
    }
}

pub(crate) fn element_text(src: &str, nodes: &[Node]) -> String {
    match nodes {
        [Node::Token(t)] => match &t.kind {
            TokenKind::Str(s) | TokenKind::QuotedIdent(s) => s.clone(),
            _ => t.text(src).to_string(),
        },
        _ => source_text(src, nodes).to_string(),
    }
}

/// Normalizes a `schema.table` name the way DuckDB and PostgreSQL resolve it: unquoted parts
/// are lower-cased, `"quoted"` parts keep their case. Errors unless there are exactly two parts.
pub(crate) fn normalize_name(text: &str) -> Result<String, String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = text.trim().chars().peekable();
    let mut quoted_part = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted_part = true;
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            current.push('"');
                        }
                        Some('"') => break,
                        Some(c) => current.push(c),
                        None => return Err(format!("unterminated quoted name in '{text}'")),
                    }
                }
            }
            '.' => {
                parts.push(std::mem::take(&mut current));
                quoted_part = false;
            }
            c if c.is_alphanumeric() || c == '_' => {
                if quoted_part {
                    return Err(format!("invalid model name '{text}'"));
                }
                current.extend(c.to_lowercase());
            }
            _ => return Err(format!("invalid model name '{text}'")),
        }
    }
    parts.push(current);
    let name = parts.join(".");
    if parts.len() != 2 || split_name(&name).is_none() {
        return Err(format!(
            "model name '{text}' must have the form schema.table"
        ));
    }
    Ok(name)
}

fn int_value(src: &str, key: &str, pos: Pos, value: &[Node]) -> Result<u32, Located> {
    text_value(src, key, pos, value)?
        .parse()
        .map_err(|_| type_error(src, key, pos, value, "a whole number"))
}

/// A whole number that is zero or more.
pub(crate) fn whole_number(src: &str, key: &str, pos: Pos, value: &[Node]) -> Result<u32, Located> {
    int_value(src, key, pos, value)
}

pub(crate) fn positive_int(src: &str, key: &str, pos: Pos, value: &[Node]) -> Result<u32, Located> {
    match int_value(src, key, pos, value)? {
        0 => Err(type_error(src, key, pos, value, "a positive whole number")),
        n => Ok(n),
    }
}

pub(crate) fn bool_value(src: &str, key: &str, pos: Pos, value: &[Node]) -> Result<bool, Located> {
    match text_value(src, key, pos, value)?
        .to_ascii_lowercase()
        .as_str()
    {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(type_error(src, key, pos, value, "true or false")),
    }
}
