//! Server-side printing: `Table` responses (`Accept: application/json;as=Table;...`) with the
//! columns `kubectl get` shows, including a CRD's `additionalPrinterColumns`.

use serde_json::{Value, json};

use crate::meta;
use crate::resources::ResourceInfo;

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

struct Column {
    name: String,
    kind: String,
    description: String,
    priority: i64,
    cell: Box<dyn Fn(&Value) -> Value>,
}

fn column(name: &str, kind: &str, cell: impl Fn(&Value) -> Value + 'static) -> Column {
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

fn job_status(job: &Value) -> String {
    let conditions = job["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let has = |t: &str| {
        conditions
            .iter()
            .any(|c| c["type"] == t && c["status"] == "True")
    };
    if has("Complete") {
        "Complete".into()
    } else if has("Failed") {
        "Failed".into()
    } else if !job["metadata"]["deletionTimestamp"].is_null() {
        "Terminating".into()
    } else if job["spec"]["suspend"] == true {
        "Suspended".into()
    } else {
        "Running".into()
    }
}

fn columns(res: &ResourceInfo, version: &str) -> Vec<Column> {
    let mut cols = vec![column("Name", "string", |o| o["metadata"]["name"].clone())];
    if let Some(custom) = &res.custom {
        let defs = custom.columns.get(version).cloned().unwrap_or_default();
        if defs.is_empty() {
            cols.push(column("Age", "date", age));
        }
        for def in defs {
            let path = def["jsonPath"].as_str().unwrap_or_default().to_string();
            let kind = def["type"].as_str().unwrap_or("string").to_string();
            let is_date = kind == "date";
            let mut c =
                column(
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
        return cols;
    }
    match (res.group.as_str(), res.plural.as_str()) {
        ("", "pods") => {
            cols.push(column("Ready", "string", |o| {
                let statuses = o["status"]["containerStatuses"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let ready = statuses.iter().filter(|s| s["ready"] == true).count();
                json!(format!(
                    "{ready}/{}",
                    o["spec"]["containers"].as_array().map_or(0, Vec::len)
                ))
            }));
            // kubectl shows the terminated reason rather than the phase for finished pods.
            cols.push(column("Status", "string", |o| {
                let reason = &o["status"]["containerStatuses"][0]["state"]["terminated"]["reason"];
                if reason.is_string() {
                    reason.clone()
                } else {
                    o["status"]["phase"].clone()
                }
            }));
            cols.push(column("Restarts", "string", |o| {
                json!(
                    o["status"]["containerStatuses"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|s| s["restartCount"].as_i64().unwrap_or(0))
                        .sum::<i64>()
                        .to_string()
                )
            }));
        }
        ("batch", "jobs") => {
            cols.push(column("Status", "string", |o| json!(job_status(o))));
            cols.push(column("Completions", "string", |o| {
                json!(format!(
                    "{}/{}",
                    o["status"]["succeeded"].as_i64().unwrap_or(0),
                    o["spec"]["completions"].as_i64().unwrap_or(1)
                ))
            }));
        }
        ("", "namespaces") => {
            cols.push(column("Status", "string", |o| o["status"]["phase"].clone()))
        }
        ("", "configmaps") => cols.push(column("Data", "integer", |o| {
            json!(o["data"].as_object().map_or(0, |d| d.len()))
        })),
        ("", "events") | ("events.k8s.io", "events") => return event_columns(),
        ("apps", "deployments") => {
            cols.push(column("Ready", "string", |o| {
                json!(format!(
                    "{}/{}",
                    int(&o["status"]["readyReplicas"]),
                    o["spec"]["replicas"].as_i64().unwrap_or(1)
                ))
            }));
            cols.push(column("Up-to-date", "integer", |o| {
                json!(int(&o["status"]["updatedReplicas"]))
            }));
            cols.push(column("Available", "integer", |o| {
                json!(int(&o["status"]["availableReplicas"]))
            }));
        }
        ("apps", "replicasets") => {
            cols.push(column("Desired", "integer", |o| {
                json!(o["spec"]["replicas"].as_i64().unwrap_or(1))
            }));
            cols.push(column("Current", "integer", |o| {
                json!(int(&o["status"]["replicas"]))
            }));
            cols.push(column("Ready", "integer", |o| {
                json!(int(&o["status"]["readyReplicas"]))
            }));
        }
        ("", "services") => {
            cols.push(column("Type", "string", |o| o["spec"]["type"].clone()));
            cols.push(column("Cluster-IP", "string", |o| {
                o["spec"]["clusterIP"].clone()
            }));
            cols.push(column("External-IP", "string", |_| json!("<none>")));
            cols.push(column("Port(s)", "string", |o| {
                let ports: Vec<String> = o["spec"]["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP")))
                    .collect();
                json!(if ports.is_empty() {
                    "<none>".to_string()
                } else {
                    ports.join(",")
                })
            }));
        }
        _ => {}
    }
    cols.push(column("Age", "string", age));
    cols
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// `kubectl get events`: when, what kind, why, about what, and the message.
fn event_columns() -> Vec<Column> {
    let last_seen = |o: &Value| {
        let when = ["lastTimestamp", "deprecatedLastTimestamp", "eventTime"]
            .iter()
            .find_map(|f| o[*f].as_str())
            .or(o["series"]["lastObservedTime"].as_str())
            .or(o["metadata"]["creationTimestamp"].as_str())
            .unwrap_or_default();
        json!(
            meta::age_seconds(when)
                .map(meta::human_duration)
                .unwrap_or_else(|| "<unknown>".into())
        )
    };
    let object = |o: &Value| {
        let r = if o["involvedObject"].is_object() {
            &o["involvedObject"]
        } else {
            &o["regarding"]
        };
        json!(format!(
            "{}/{}",
            r["kind"].as_str().unwrap_or_default().to_lowercase(),
            r["name"].as_str().unwrap_or_default()
        ))
    };
    vec![
        column("Last Seen", "string", last_seen),
        column("Type", "string", |o| o["type"].clone()),
        column("Reason", "string", |o| o["reason"].clone()),
        column("Object", "string", object),
        column("Message", "string", |o| {
            if o["message"].is_string() {
                o["message"].clone()
            } else {
                o["note"].clone()
            }
        }),
    ]
}

/// Renders objects as a `meta.k8s.io/v1` Table; `include` is the `includeObject` parameter.
pub fn table(
    res: &ResourceInfo,
    version: &str,
    objects: &[Value],
    rv: &str,
    include: &str,
    headers: bool,
) -> Value {
    let cols = columns(res, version);
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
