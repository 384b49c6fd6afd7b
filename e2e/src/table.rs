//! Server-side printing: `Table` responses (`Accept: application/json;as=Table;...`) with the
//! columns `kubectl get` shows: each built-in kind's own (`kinds`), or a CRD's
//! `additionalPrinterColumns` (a JSONPath subset).

use serde_json::{Value, json};

use crate::meta;

/// True when the client asked for `as=Table` output.
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

/// Evaluates the JSONPath subset printer columns use: `.a.b`, `[0]`, `[?(@.k=="v")]`.
pub fn json_path<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('$');
    let mut cur = obj;
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            cur = cur.get(&r[..end])?;
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            rest = &r[end + 1..];
            if let Some(filter) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (field, want) = filter.split_once("==")?;
                let want = want.trim().trim_matches(|c| c == '"' || c == '\'');
                cur = cur
                    .as_array()?
                    .iter()
                    .find(|e| e.get(field.trim()).and_then(Value::as_str) == Some(want))?;
            } else {
                cur = cur.get(inner.parse::<usize>().ok()?)?;
            }
        } else {
            return None;
        }
    }
    Some(cur)
}

/// One `kubectl get` column: its definition and how to compute a cell.
pub struct Column {
    name: String,
    kind: String,
    description: String,
    priority: i64,
    cell: Box<dyn Fn(&Value) -> Value>,
}

/// A column of type `kind` (`string`, `integer`, `date`, ...) whose cells `cell` computes.
pub fn column(name: &str, kind: &str, cell: impl Fn(&Value) -> Value + 'static) -> Column {
    Column {
        name: name.into(),
        kind: kind.into(),
        description: String::new(),
        priority: 0,
        cell: Box::new(cell),
    }
}

fn age(obj: &Value) -> Value {
    let created = obj["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap_or_default();
    json!(
        meta::age_seconds(created)
            .map(meta::human_duration)
            .unwrap_or_else(|| "<unknown>".into())
    )
}

fn name() -> Column {
    column("Name", "string", |o| o["metadata"]["name"].clone())
}

/// NAME, the given columns, then AGE: what most kinds show.
pub fn named(mut columns: Vec<Column>) -> Vec<Column> {
    columns.insert(0, name());
    columns.push(column("Age", "string", age));
    columns
}

/// NAME then a CRD's `additionalPrinterColumns` (AGE when it has none).
pub fn printer_columns(defs: &[Value]) -> Vec<Column> {
    let mut cols = vec![name()];
    if defs.is_empty() {
        cols.push(column("Age", "date", age));
    }
    for def in defs {
        let path = def["jsonPath"].as_str().unwrap_or_default().to_string();
        let kind = def["type"].as_str().unwrap_or("string").to_string();
        let is_date = kind == "date";
        let mut c = column(
            def["name"].as_str().unwrap_or_default(),
            &kind,
            move |o| match json_path(o, &path) {
                Some(Value::String(s)) if is_date => json!(
                    meta::age_seconds(s)
                        .map(meta::human_duration)
                        .unwrap_or_default()
                ),
                Some(v) => v.clone(),
                None => Value::Null,
            },
        );
        c.description = def["description"].as_str().unwrap_or_default().into();
        c.priority = def["priority"].as_i64().unwrap_or(0);
        cols.push(c);
    }
    cols
}

/// Renders objects as a `meta.k8s.io/v1` Table; `include` is the `includeObject` parameter.
pub fn table(cols: &[Column], objects: &[Value], rv: &str, include: &str, headers: bool) -> Value {
    let defs: Vec<Value> = cols
        .iter()
        .map(|c| {
            let format = if c.name == "Name" { "name" } else { "" };
            json!({"name": c.name, "type": c.kind, "format": format, "description": c.description, "priority": c.priority})
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let cells: Vec<Value> = cols.iter().map(|c| (c.cell)(o)).collect();
            let object = match include {
                "None" => Value::Null,
                "Object" => o.clone(),
                _ => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}),
            };
            json!({"cells": cells, "object": object})
        })
        .collect();
    let mut t = json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv}, "rows": rows});
    t["columnDefinitions"] = if headers {
        Value::Array(defs)
    } else {
        json!([])
    };
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_path_subset() {
        let o = json!({"status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]}, "spec": {"xs": [7]}});
        assert_eq!(
            json_path(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(&json!("True"))
        );
        assert_eq!(json_path(&o, ".spec.xs[0]"), Some(&json!(7)));
        assert_eq!(json_path(&o, ".spec.nope"), None);
    }
}
