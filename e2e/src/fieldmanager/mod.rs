//! Managed fields and server-side apply. Every write records which manager set which fields
//! (`metadata.managedFields`, `FieldsV1`): applies as `Apply`, other writes as `Update`, status
//! writes with `subresource: status`. Lists follow their schema: `x-kubernetes-list-type: map`
//! items are keyed (`k:{...}`), `set` items are values (`v:...`), others are atomic; built-in
//! kinds use their merge keys. An apply merges, conflicts (409) when it changes a field another
//! manager owns, and removes the fields it no longer applies unless another manager owns them.

mod fields;

pub use fields::{
    Elem, ListKind, Path, Scope, Set, Shape, fields_of, from_fields_v1, get, to_fields_v1,
};

use fields::{is_key_field, merge, remove};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};

/// A `managedFields` entry.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    subresource: String,
    api_version: String,
    time: String,
    set: Set,
}

fn entries(obj: &Value) -> Vec<Entry> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["manager"].is_string() || e["operation"].is_string())
        .map(|e| Entry {
            manager: e["manager"].as_str().unwrap_or_default().into(),
            operation: e["operation"].as_str().unwrap_or_default().into(),
            subresource: e["subresource"].as_str().unwrap_or_default().into(),
            api_version: e["apiVersion"].as_str().unwrap_or_default().into(),
            time: e["time"].as_str().unwrap_or_default().into(),
            set: from_fields_v1(&e["fieldsV1"]),
        })
        .collect()
}

fn store_entries(obj: &mut Value, list: Vec<Entry>) {
    let rendered: Vec<Value> = list
        .into_iter()
        .filter(|e| !e.set.is_empty())
        .map(|e| {
            let mut v = json!({"manager": e.manager, "operation": e.operation, "apiVersion": e.api_version, "time": e.time, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(&e.set)});
            if !e.subresource.is_empty() {
                v["subresource"] = json!(e.subresource);
            }
            v
        })
        .collect();
    if rendered.is_empty() {
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("managedFields");
        }
    } else {
        obj["metadata"]["managedFields"] = Value::Array(rendered);
    }
}

/// The request's identity as a manager.
pub struct Manager<'a> {
    pub name: &'a str,
    pub api_version: &'a str,
    pub scope: Scope,
}

impl Manager<'_> {
    fn subresource(&self) -> &'static str {
        if self.scope == Scope::Status {
            "status"
        } else {
            ""
        }
    }

    fn is(&self, e: &Entry, operation: &str) -> bool {
        e.manager == self.name && e.operation == operation && e.subresource == self.subresource()
    }

    fn entry(&self, operation: &str, set: Set) -> Entry {
        Entry {
            manager: self.name.into(),
            operation: operation.into(),
            subresource: self.subresource().into(),
            api_version: self.api_version.into(),
            time: crate::meta::now(),
            set,
        }
    }
}

fn path_string(path: &[Elem]) -> String {
    path.iter()
        .map(|e| match e {
            Elem::Field(f) => format!(".{f}"),
            Elem::Key(k) => {
                let m: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("[{}]", parts.join(","))
            }
            Elem::Value(v) => format!("[={v}]"),
        })
        .collect()
}

fn conflict_error(conflicts: Vec<(Entry, Path)>) -> ApiError {
    let who = |e: &Entry| {
        let mut s = format!("{:?}", e.manager);
        if !e.subresource.is_empty() {
            s = format!("{s} with subresource {:?}", e.subresource);
        }
        if e.operation == "Update" {
            s = format!("{s} using {}", e.api_version);
            if !e.time.is_empty() {
                s = format!("{s} at {}", e.time);
            }
        }
        s
    };
    let message = if conflicts.len() == 1 {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            who(&conflicts[0].0),
            path_string(&conflicts[0].1)
        )
    } else {
        let mut managers: Vec<String> = conflicts.iter().map(|(e, _)| who(e)).collect();
        managers.sort();
        managers.dedup();
        let mut lines = Vec::new();
        for m in managers {
            lines.push(format!("conflicts with {m}:"));
            for (e, p) in conflicts.iter().filter(|(e, _)| who(e) == m) {
                let _ = e;
                lines.push(format!("- {}", path_string(p)));
            }
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(e, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", who(e)), "field": path_string(p)}))
        .collect();
    let mut err = ApiError::new(409, "Conflict", message);
    err.details = Some(json!({"causes": causes}));
    err
}

/// Server-side apply of `config` onto `live` (an empty object when creating).
pub fn apply(
    live: &Value,
    config: &Value,
    m: &Manager,
    force: bool,
    shape: Shape,
) -> ApiResult<Value> {
    let mut config = config.clone();
    if let Some(c) = config.as_object_mut() {
        match m.scope {
            Scope::Main {
                status_separate: true,
            } => {
                c.remove("status");
            }
            Scope::Status => c.retain(|k, _| k == "status" || k == "apiVersion" || k == "kind"),
            _ => {}
        }
        if let Some(meta) = c.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
    }
    let mut list = entries(live);
    let new_set = fields_of(&config, shape, m.scope);
    if !force {
        let conflicts: Vec<(Entry, Path)> = list
            .iter()
            .filter(|e| e.manager != m.name)
            .flat_map(|e| {
                e.set
                    .intersection(&new_set)
                    .filter(|p| {
                        let theirs = get(live, p);
                        let ours = get(&config, p);
                        !matches!(p.last(), Some(Elem::Key(_)))
                            && !ours.is_some_and(Value::is_object)
                            && theirs != ours
                    })
                    .map(|p| (e.clone(), p.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        if !conflicts.is_empty() {
            return Err(conflict_error(conflicts));
        }
    }
    let mut obj = live.clone();
    merge(&mut obj, &config, shape, &mut Vec::new());
    let previous = list
        .iter()
        .find(|e| m.is(e, "Apply"))
        .map(|e| e.set.clone())
        .unwrap_or_default();
    let others: Set = list
        .iter()
        .filter(|e| !m.is(e, "Apply"))
        .flat_map(|e| e.set.iter().cloned())
        .collect();
    // Parents first: a removed item takes its fields along. An item another manager still
    // has a say in stays, with its key fields.
    let mut dropped: Vec<&Path> = previous.difference(&new_set).collect();
    dropped.sort_by_key(|p| p.len());
    for p in dropped {
        if !others.iter().any(|o| o.starts_with(p)) && !is_key_field(p) {
            remove(&mut obj, p);
            prune_empty_parents(&mut obj, p, &config, &others);
        }
    }
    if force {
        for e in list.iter_mut().filter(|e| e.manager != m.name) {
            e.set = e.set.difference(&new_set).cloned().collect();
        }
    }
    // The applier's entry is renewed whenever the object changes (a new time, as upstream), so
    // the write is recognised as an apply and never also recorded as an update.
    let changed = without_managed(&obj) != without_managed(live);
    match list.iter_mut().find(|e| m.is(e, "Apply")) {
        Some(e) if e.set == new_set && !changed => {}
        Some(e) => *e = m.entry("Apply", new_set),
        None => list.push(m.entry("Apply", new_set)),
    }
    store_entries(&mut obj, list);
    Ok(obj)
}

/// After a dropped field goes, its parents left empty go too (as upstream: a struct or list
/// nobody sets anything of is not kept as `{}` or `[]`), unless the applied config has them or
/// another manager owns something under them.
fn prune_empty_parents(obj: &mut Value, path: &[Elem], config: &Value, others: &Set) {
    for len in (1..path.len()).rev() {
        let parent = &path[..len];
        if !matches!(parent.last(), Some(Elem::Field(_))) {
            return;
        }
        let empty = get(obj, parent).is_some_and(|v| match v {
            Value::Object(m) => m.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        });
        let wanted = get(config, parent).is_some();
        let owned = others.iter().any(|o| o.starts_with(parent));
        if !empty || wanted || owned {
            return;
        }
        remove(obj, parent);
    }
}

fn without_managed(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    copy
}

/// Records a non-apply write (create, update, patch) by `m`: the fields it set or changed
/// become its own, removed fields leave every manager.
pub fn update(old: Option<&Value>, new: &mut Value, m: &Manager, shape: Shape) {
    let empty = json!({});
    let before = old.unwrap_or(&empty);
    let mut list = entries(before);
    let old_set = fields_of(before, shape, m.scope);
    let new_set = fields_of(new, shape, m.scope);
    let changed: Set = new_set
        .iter()
        .filter(|p| {
            !old_set.contains(*p) || {
                let now = get(new, p);
                !matches!(p.last(), Some(Elem::Key(_))) && now != get(before, p)
            }
        })
        .cloned()
        .collect();
    let removed: Set = old_set.difference(&new_set).cloned().collect();
    if changed.is_empty() && removed.is_empty() {
        store_entries(new, list);
        return;
    }
    for e in list.iter_mut() {
        e.set = e
            .set
            .iter()
            .filter(|p| !changed.contains(*p) && !removed.contains(*p))
            .cloned()
            .collect();
    }
    match list.iter_mut().find(|e| m.is(e, "Update")) {
        Some(e) => {
            e.set.extend(changed);
            e.time = crate::meta::now();
            e.api_version = m.api_version.into();
        }
        None => list.push(m.entry("Update", changed)),
    }
    store_entries(new, list);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mgr(name: &str) -> Manager<'_> {
        Manager {
            name,
            api_version: "v1",
            scope: Scope::Main {
                status_separate: false,
            },
        }
    }

    #[test]
    fn fields_v1_round_trip() {
        let obj = json!({"metadata": {"labels": {"a": "1"}, "finalizers": ["x"]}, "spec": {"containers": [{"name": "c", "image": "i"}], "empty": {}}});
        let set = fields_of(
            &obj,
            Shape::Builtin,
            Scope::Main {
                status_separate: true,
            },
        );
        let v1 = to_fields_v1(&set);
        assert_eq!(
            v1["f:spec"]["f:containers"]["k:{\"name\":\"c\"}"]["."],
            json!({})
        );
        assert_eq!(v1["f:metadata"]["f:finalizers"]["v:\"x\""], json!({}));
        assert_eq!(from_fields_v1(&v1), set);
    }

    #[test]
    fn apply_keeps_fields_another_manager_owns_and_merges_keyed_lists() {
        let a = apply(
            &json!({}),
            &json!({"spec": {"containers": [{"name": "a", "image": "1"}], "x": 1}}),
            &mgr("one"),
            false,
            Shape::Builtin,
        )
        .unwrap();
        let b = apply(
            &a,
            &json!({"spec": {"containers": [{"name": "b", "image": "2"}], "x": 1}}),
            &mgr("two"),
            false,
            Shape::Builtin,
        )
        .unwrap();
        assert_eq!(b["spec"]["containers"].as_array().unwrap().len(), 2);
        // "one" drops x, but "two" applied it too: it stays.
        let c = apply(
            &b,
            &json!({"spec": {"containers": [{"name": "a", "image": "1"}]}}),
            &mgr("one"),
            false,
            Shape::Builtin,
        )
        .unwrap();
        assert_eq!(c["spec"]["x"], 1);
        let err = apply(
            &c,
            &json!({"spec": {"x": 2}}),
            &mgr("one"),
            false,
            Shape::Builtin,
        )
        .unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"two\": .spec.x"
        );
    }

    #[test]
    fn updates_take_ownership_of_what_they_change() {
        let a = apply(
            &json!({}),
            &json!({"data": {"k": "1", "j": "2"}}),
            &mgr("applier"),
            false,
            Shape::Builtin,
        )
        .unwrap();
        let mut b = a.clone();
        b["data"]["k"] = json!("changed");
        update(Some(&a), &mut b, &mgr("kubectl-edit"), Shape::Builtin);
        let err = apply(
            &b,
            &json!({"data": {"k": "1", "j": "2"}}),
            &mgr("applier"),
            false,
            Shape::Builtin,
        )
        .unwrap_err();
        assert!(
            err.message
                .contains("conflict with \"kubectl-edit\" using v1"),
            "{}",
            err.message
        );
        // Dropping k does not delete it: the editor owns it now.
        let c = apply(
            &b,
            &json!({"data": {"j": "2"}}),
            &mgr("applier"),
            false,
            Shape::Builtin,
        )
        .unwrap();
        assert_eq!(c["data"]["k"], "changed");
    }
}
