//! The `kind` property: kind names and the fields each kind takes.

use super::header::{Item, Located, Node, Pos, TokenKind};
use super::values::{
    bool_value, element_text, list_value, positive_int, split_property, text_value, type_error,
    whole_number,
};
use crate::model::ModelKind;

/// SQLMesh kind fields we accept and ignore: execution tuning and schema-change policies that
/// our engine does not implement (it always treats schema changes as breaking).
const IGNORED_KIND_FIELDS: &[&str] = &[
    "batch_concurrency",
    "partition_by_time_column",
    "on_destructive_change",
    "on_additive_change",
];

pub(crate) fn parse_kind(src: &str, pos: Pos, value: &[Node]) -> Result<ModelKind, Located> {
    let (name, fields) = match value {
        [name] => (name, &[][..]),
        [name, group @ Node::Group { .. }] => (name, group.group_items().unwrap_or_default()),
        _ => {
            return Err(type_error(
                src,
                "kind",
                pos,
                value,
                "a kind such as FULL or SEED (path '...')",
            ));
        }
    };
    let Some(name) = name.word(src) else {
        return Err(type_error(src, "kind", pos, value, "a kind name"));
    };
    let name = name.to_ascii_uppercase();
    let mut fields = KindFields::parse(src, &name, fields)?;
    let kind = match name.as_str() {
        "FULL" => ModelKind::Full,
        "VIEW" => ModelKind::View,
        "EMBEDDED" => ModelKind::Embedded,
        "EXTERNAL" => ModelKind::External,
        "INCREMENTAL_BY_TIME_RANGE" => ModelKind::IncrementalByTimeRange {
            time_column: fields.required(pos, &name, "time_column", |f| f.time_column.take())?,
            time_format: fields.time_format.take(),
            batch_size: fields.batch_size,
            lookback: fields.lookback.unwrap_or(0),
            forward_only: fields.forward_only.unwrap_or(false),
        },
        "INCREMENTAL_BY_UNIQUE_KEY" => ModelKind::IncrementalByUniqueKey {
            unique_key: fields.required(pos, &name, "unique_key", |f| f.unique_key.take())?,
            batch_size: fields.batch_size,
            forward_only: fields.forward_only.unwrap_or(false),
        },
        "SEED" => ModelKind::Seed {
            path: fields.required(pos, &name, "path", |f| f.path.take())?,
        },
        "INCREMENTAL_BY_PARTITION"
        | "INCREMENTAL_UNMANAGED"
        | "SCD_TYPE_2"
        | "SCD_TYPE_2_BY_TIME"
        | "SCD_TYPE_2_BY_COLUMN"
        | "MANAGED"
        | "CUSTOM" => {
            return Err(Located::new(
                pos,
                format!("model kind {name} is not supported"),
            ));
        }
        _ => return Err(Located::new(pos, format!("unknown model kind '{name}'"))),
    };
    Ok(kind)
}

/// Fields inside a kind's parentheses, validated against the kind that allows them.
#[derive(Default)]
struct KindFields {
    time_column: Option<String>,
    time_format: Option<String>,
    unique_key: Option<Vec<String>>,
    path: Option<String>,
    batch_size: Option<u32>,
    lookback: Option<u32>,
    forward_only: Option<bool>,
}

impl KindFields {
    fn parse(src: &str, kind: &str, items: &[Item]) -> Result<Self, Located> {
        let mut fields = KindFields::default();
        let mut errors = Vec::new();
        for item in items {
            let Some((key, value)) = split_property(src, item, &mut errors) else {
                continue;
            };
            let pos = item.pos();
            let allowed = match kind {
                "INCREMENTAL_BY_TIME_RANGE" => {
                    ["time_column", "batch_size", "lookback", "forward_only"]
                        .contains(&key.as_str())
                }
                "INCREMENTAL_BY_UNIQUE_KEY" => {
                    ["unique_key", "batch_size", "forward_only"].contains(&key.as_str())
                }
                "SEED" => key == "path",
                _ => false,
            };
            let ignored = match kind {
                "SEED" => key == "batch_size",
                "INCREMENTAL_BY_TIME_RANGE" | "INCREMENTAL_BY_UNIQUE_KEY" => {
                    IGNORED_KIND_FIELDS.contains(&key.as_str())
                }
                _ => false,
            };
            if ignored {
                continue;
            }
            if !allowed {
                return Err(Located::new(
                    pos,
                    format!("unknown field '{key}' for kind {kind}"),
                ));
            }
            match key.as_str() {
                "time_column" => {
                    let (column, format) = time_column(src, pos, value)?;
                    fields.time_column = Some(column);
                    fields.time_format = format;
                }
                "unique_key" => {
                    fields.unique_key = Some(list_value(src, value));
                }
                "path" => match value {
                    [Node::Token(t)] if matches!(t.kind, TokenKind::Str(_)) => {
                        fields.path = Some(text_value(src, &key, pos, value)?);
                    }
                    _ => return Err(type_error(src, &key, pos, value, "a 'quoted path'")),
                },
                "batch_size" => fields.batch_size = Some(positive_int(src, &key, pos, value)?),
                "lookback" => fields.lookback = Some(whole_number(src, &key, pos, value)?),
                "forward_only" => fields.forward_only = Some(bool_value(src, &key, pos, value)?),
                _ => unreachable!("checked against the allowed fields"),
            }
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(fields),
        }
    }

    fn required<T>(
        &mut self,
        pos: Pos,
        kind: &str,
        field: &str,
        take: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Result<T, Located> {
        take(self).ok_or_else(|| Located::new(pos, format!("kind {kind} requires '{field}'")))
    }
}

/// `time_column ts` or `time_column (ts, '%Y-%m-%d')`: the column, and the format a text
/// column writes times in.
fn time_column(src: &str, pos: Pos, value: &[Node]) -> Result<(String, Option<String>), Located> {
    let (column, format) = match value {
        [group @ Node::Group { .. }] => match group.group_items().unwrap_or_default() {
            [first] => (element_text(src, &first.nodes), None),
            [first, format] => (
                element_text(src, &first.nodes),
                Some(element_text(src, &format.nodes)),
            ),
            _ => (String::new(), None),
        },
        _ => (element_text(src, value), None),
    };
    if column.is_empty() || column.contains(char::is_whitespace) {
        return Err(type_error(
            src,
            "time_column",
            pos,
            value,
            "a column name, or (column, 'format')",
        ));
    }
    let format = format
        .map(|f| {
            let text = f.trim_matches('\'').to_string();
            crate::intervals::check_time_format(&text)
                .map(|()| text)
                .map_err(|e| Located::new(pos, format!("time_column: {e}")))
        })
        .transpose()?;
    Ok((column, format))
}
