//! SQLMesh blueprints: one model file that stands for several models. Its header's
//! `blueprints ((name := a.x, status := 'on'), (...))` lists the variables of each model, and
//! `@name`, `@status`, ... in the header and the query take each blueprint's values.
//!
//! Expanded as text before the file is parsed, once per blueprint: each copy is then an
//! ordinary model file (lines and most columns unchanged, so errors still point into it).

use super::header::{Lexer, Located, Node, Pos, TokenKind, parse_block, source_text};
use super::values::split_property;

/// One copy of `src` per blueprint, or `None` when the file has no `blueprints` property.
pub(crate) fn expand(src: &str) -> Result<Option<Vec<String>>, Vec<Located>> {
    let mut lexer = Lexer::new(src);
    let Ok(Some(block)) = parse_block(&mut lexer, "MODEL") else {
        return Ok(None);
    };
    let mut errors = Vec::new();
    let found = block.properties.iter().find_map(|item| {
        let (key, value) = split_property(src, item, &mut errors)?;
        (key == "blueprints").then_some((item.pos(), value))
    });
    let Some((pos, value)) = found else {
        return Ok(None);
    };
    let blueprints = match value {
        [group] => group.group_items().unwrap_or_default(),
        _ => &[],
    };
    if blueprints.is_empty() {
        return Err(vec![malformed(pos)]);
    }
    let mut copies = Vec::new();
    for blueprint in blueprints {
        let vars = match blueprint.nodes.as_slice() {
            [group @ Node::Group { .. }] => variables(src, group, pos)?,
            _ => return Err(vec![malformed(blueprint.pos())]),
        };
        copies.push(substitute(src, &vars));
    }
    Ok(Some(copies))
}

fn malformed(pos: Pos) -> Located {
    Located::new(
        pos,
        "'blueprints' expects a list of (name := value, ...) tuples, one per model",
    )
}

/// `(key := value, ...)` as (key, value text) pairs.
fn variables(src: &str, group: &Node, pos: Pos) -> Result<Vec<(String, String)>, Vec<Located>> {
    let mut vars = Vec::new();
    for item in group.group_items().unwrap_or_default() {
        match item.nodes.as_slice() {
            [key, Node::Token(op), value @ ..]
                if !value.is_empty()
                    && key.word(src).is_some()
                    && (op.kind == TokenKind::Assign || op.text(src) == "=") =>
            {
                let key = key.word(src).unwrap_or_default().to_ascii_lowercase();
                vars.push((key, source_text(src, value).to_string()));
            }
            _ => return Err(vec![malformed(pos)]),
        }
    }
    if !vars.iter().any(|(key, _)| key == "name") {
        return Err(vec![Located::new(
            group.pos(),
            "a blueprint must give the model's name (name := schema.model)",
        )]);
    }
    Ok(vars)
}

/// `src` with each `@key` (a whole word, any case) replaced by its value.
fn substitute(src: &str, vars: &[(String, String)]) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let word_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let word = after[..word_len].to_ascii_lowercase();
        match vars.iter().find(|(key, _)| *key == word) {
            Some((_, value)) => out.push_str(value),
            None => out.push_str(&rest[at..at + 1 + word_len]),
        }
        rest = &after[word_len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_blueprint_is_a_model_with_its_values() {
        let src = "MODEL (\n  name @name,\n  kind FULL,\n  blueprints (\n    \
                   (name := s.a, status := 'on'),\n    (name := s.b, status := 'off',)\n  )\n);\n\
                   SELECT * FROM t WHERE status = @status AND x = @statuses";
        let copies = expand(src).unwrap().unwrap();
        assert_eq!(copies.len(), 2);
        assert!(copies[0].contains("name s.a,"), "{}", copies[0]);
        assert!(copies[0].contains("status = 'on' AND x = @statuses"));
        assert!(copies[1].contains("name s.b,") && copies[1].contains("status = 'off'"));
        assert_eq!(copies[0].lines().count(), src.lines().count());
    }

    #[test]
    fn files_without_blueprints_are_left_alone_and_bad_ones_named() {
        assert!(expand("MODEL (name a.b);\nSELECT 1").unwrap().is_none());
        let err = expand("MODEL (name @name, blueprints ((status := 1)));\nSELECT 1").unwrap_err();
        assert!(
            err[0].message.contains("must give the model's name"),
            "{err:?}"
        );
        let err = expand("MODEL (name @name, blueprints 3);\nSELECT 1").unwrap_err();
        assert!(err[0].message.contains("expects a list"), "{err:?}");
    }
}
