//! Audit calls in a MODEL header's `audits` property and `key := value` argument lists.

use std::collections::BTreeMap;

use super::header::{Item, Lexer, Located, Node, Pos, TokenKind, source_text};
use super::values::type_error;
use crate::model::{AuditArg, AuditCall};

/// `audits (not_null(columns := [id]), my_audit)`.
pub(crate) fn audit_calls(src: &str, pos: Pos, value: &[Node]) -> Result<Vec<AuditCall>, Located> {
    let value = super::values::array_items(src, value);
    let owned;
    let items: &[Item] = match value {
        [group @ Node::Group { .. }] => group.group_items().unwrap_or_default(),
        _ => {
            owned = [Item {
                nodes: value.to_vec(),
            }];
            &owned
        }
    };
    items
        .iter()
        .map(|item| {
            let (name, args) = match item.nodes.as_slice() {
                [name] => (name, &[][..]),
                [name, args @ Node::Group { .. }] => (name, args.group_items().unwrap_or_default()),
                _ => (&item.nodes[0], &[][..]),
            };
            let well_formed = item.nodes.len() <= 2 && name.word(src).is_some();
            if !well_formed {
                return Err(type_error(
                    src,
                    "audits",
                    pos,
                    &item.nodes,
                    "audit calls such as not_null(columns := [id])",
                ));
            }
            Ok(AuditCall {
                name: name.word(src).unwrap_or_default().to_ascii_lowercase(),
                args: audit_args(src, args)?,
            })
        })
        .collect()
}

/// `key := value` (or `key = value`) pairs; a `(..)`/`[..]` value becomes a list of its
/// elements' SQL text, anything else the scalar SQL text.
pub(crate) fn audit_args(src: &str, items: &[Item]) -> Result<BTreeMap<String, AuditArg>, Located> {
    let mut args = BTreeMap::new();
    for item in items {
        let (key, value) = match item.nodes.as_slice() {
            [key, Node::Token(op), value @ ..]
                if !value.is_empty()
                    && key.word(src).is_some()
                    && (op.kind == TokenKind::Assign || op.text(src) == "=") =>
            {
                (
                    key.word(src).unwrap_or_default().to_ascii_lowercase(),
                    value,
                )
            }
            _ => {
                return Err(Located::new(
                    item.pos(),
                    format!(
                        "expected 'name := value', found '{}'",
                        source_text(src, &item.nodes)
                    ),
                ));
            }
        };
        let arg = match super::values::array_items(src, value) {
            [group @ Node::Group { .. }] => AuditArg::List(
                group
                    .group_items()
                    .unwrap_or_default()
                    .iter()
                    .map(|i| source_text(src, &i.nodes).to_string())
                    .collect(),
            ),
            _ => AuditArg::Scalar(source_text(src, value).to_string()),
        };
        if args.insert(key.clone(), arg).is_some() {
            return Err(Located::new(
                item.pos(),
                format!("argument '{key}' is given twice"),
            ));
        }
    }
    Ok(args)
}

/// Parses one audit call as written in a MODEL header's `audits`, e.g.
/// `not_null(columns := [id])`; used by tools and tests that take audits on their own.
pub fn parse_audit_call(text: &str) -> Result<AuditCall, String> {
    let src = format!("({text})");
    let mut lexer = Lexer::new(&src);
    let parsed = match lexer.next_token() {
        Ok(Some(open)) => super::header::parse_group(&mut lexer, open).and_then(|group| {
            if lexer.next_token()?.is_some() {
                return Err(Located::new(
                    lexer.pos(),
                    "unexpected text after the audit call",
                ));
            }
            audit_calls(&src, group.pos(), std::slice::from_ref(&group))
        }),
        Ok(None) => unreachable!("the text is wrapped in parentheses"),
        Err(e) => Err(e),
    };
    match parsed {
        Ok(mut calls) if calls.len() == 1 => Ok(calls.remove(0)),
        Ok(_) => Err(format!("expected exactly one audit call in '{text}'")),
        Err(e) => Err(e.message),
    }
}
