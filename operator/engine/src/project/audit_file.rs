//! Audit files: one or more `AUDIT (name ..., defaults (...)); SELECT ...` blocks.

use std::path::Path;

use super::audit_call::audit_args;
use super::header::{Lexer, Located, Pos, TokenKind, parse_block};
use super::values::{bool_value, split_property, text_value};
use crate::model::CustomAudit;

/// The audits of one file (each with the line of its `AUDIT` keyword) and its problems.
pub(crate) struct ParsedAudits {
    pub audits: Vec<(CustomAudit, usize)>,
    pub errors: Vec<Located>,
}

pub(crate) fn parse(rel: &Path, src: &str) -> ParsedAudits {
    parse_from(rel, src, 0)
}

/// [`parse`] of the blocks from byte `start` on (a model file's audits follow its query).
pub(crate) fn parse_from(rel: &Path, src: &str, start: usize) -> ParsedAudits {
    let mut out = ParsedAudits {
        audits: Vec::new(),
        errors: Vec::new(),
    };
    let mut lexer = Lexer::at(src, start);
    loop {
        if let Err(e) = lexer.skip_trivia() {
            out.errors.push(e);
            break;
        }
        if lexer.offset() == src.len() {
            break;
        }
        let start = lexer.pos();
        let block = match parse_block(&mut lexer, "AUDIT") {
            Ok(Some(block)) => block,
            Ok(None) => {
                out.errors
                    .push(Located::new(start, "expected an AUDIT (...) block"));
                break;
            }
            Err(e) => {
                out.errors.push(e);
                break;
            }
        };
        let (query_end, next_start) = match query_bounds(src, block.end) {
            Ok(bounds) => bounds,
            Err(e) => {
                out.errors.push(e);
                break;
            }
        };
        let query = src[block.end..query_end].trim();
        // SQLMesh accepts any number of semicolons after an audit's query (`;;` is common).
        let query = query.trim_end_matches(|c: char| c == ';' || c.is_whitespace());
        match audit_from_block(rel, src, &block.properties, block.keyword_pos, query) {
            Ok(audit) => out.audits.push((audit, block.keyword_pos.line)),
            Err(mut errors) => out.errors.append(&mut errors),
        }
        lexer = Lexer::at(src, next_start);
    }
    out
}

/// Where the query after an AUDIT block ends (its last token, so trailing comments that
/// introduce the next block are left out) and where the next `AUDIT (` block starts (or the end
/// of the file).
pub(crate) fn query_bounds(src: &str, from: usize) -> Result<(usize, usize), Located> {
    let mut lexer = Lexer::at(src, from);
    let mut last_end = from;
    // Start of an `AUDIT` word and the query's end before it, until we see whether `(` follows.
    let mut audit_word: Option<(usize, usize)> = None;
    // A block starts a statement: `AUDIT (` right after a `;` (or where we began), so that a
    // function or column called `audit` inside a query is not taken for one.
    let mut statement_start = true;
    while let Some(token) = lexer.next_token()? {
        if let Some((start, end_before)) = audit_word.take()
            && token.kind == TokenKind::Open('(')
        {
            return Ok((end_before, start));
        }
        if statement_start
            && token.kind == TokenKind::Word
            && token.text(src).eq_ignore_ascii_case("audit")
        {
            audit_word = Some((token.start, last_end));
        }
        statement_start = token.kind == TokenKind::Semicolon;
        last_end = token.end;
    }
    Ok((last_end, src.len()))
}

fn audit_from_block(
    rel: &Path,
    src: &str,
    properties: &[super::header::Item],
    keyword_pos: Pos,
    query: &str,
) -> Result<CustomAudit, Vec<Located>> {
    let mut errors = Vec::new();
    let mut name = None;
    let mut blocking = true;
    let mut standalone = false;
    let mut defaults = Default::default();
    for item in properties {
        let Some((key, value)) = split_property(src, item, &mut errors) else {
            continue;
        };
        let pos = item.pos();
        let result = match key.as_str() {
            "name" => text_value(src, &key, pos, value).map(|n| name = Some(n.to_lowercase())),
            "blocking" => bool_value(src, &key, pos, value).map(|b| blocking = b),
            "standalone" => bool_value(src, &key, pos, value).map(|b| standalone = b),
            "defaults" => match value {
                [group] if group.group_items().is_some() => {
                    audit_args(src, group.group_items().unwrap_or_default())
                        .map(|args| defaults = args)
                }
                _ => Err(Located::new(pos, "'defaults' expects (name := value, ...)")),
            },
            // The dialect is the project's, and a description is for readers; accepted for
            // SQLMesh compatibility.
            "dialect" | "description" => Ok(()),
            _ => Err(Located::new(pos, format!("unknown AUDIT property '{key}'"))),
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    let Some(name) = name else {
        errors.push(Located::new(keyword_pos, "AUDIT block has no 'name'"));
        return Err(errors);
    };
    if query.is_empty() {
        errors.push(Located::new(
            keyword_pos,
            format!("audit '{name}' has no query after its AUDIT block"),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(CustomAudit {
        name,
        path: rel.to_path_buf(),
        query: query.to_string(),
        defaults,
        blocking,
        standalone,
    })
}
