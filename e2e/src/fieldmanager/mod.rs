//! Managed fields and server-side apply. Every write records which manager set which fields
//! (`metadata.managedFields`, `FieldsV1`): applies as `Apply`, other writes as `Update`, status
//! writes with `subresource: status`. Lists follow their schema: `x-kubernetes-list-type: map`
//! items are keyed (`k:{...}`), `set` items are values (`v:...`), others are atomic; built-in
//! kinds use their merge keys. An apply merges, conflicts (409) when it changes a field another
//! manager owns, and removes the fields it no longer applies unless another manager owns them.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};

/// One step into an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Elem {
    Field(String),
    /// A map-list item, by its key fields (canonical JSON object).
    Key(String),
    /// A set-list item, by its value (JSON).
    Value(String),
}

pub type Path = Vec<Elem>;
pub type Set = BTreeSet<Path>;

/// How a list merges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListKind {
    Atomic,
    Set,
    Map(Vec<String>),
}

/// Where list types come from: a CRD's schema, or the built-in kinds' merge keys.
#[derive(Clone, Copy)]
pub enum Shape<'a> {
    Builtin,
    Schema(&'a Value),
}

fn builtin_list(field: &str) -> ListKind {
    let keys: &[&str] = match field {
        "finalizers" => return ListKind::Set,
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => &["name"],
        "volumeMounts" | "volumeDevices" => &["mountPath"],
        "ports" => &["containerPort", "protocol"],
        "ownerReferences" => &["uid"],
        "conditions" => &["type"],
        _ => return ListKind::Atomic,
    };
    ListKind::Map(keys.iter().map(|k| k.to_string()).collect())
}

impl Shape<'_> {
    /// The kind of the list found at `path`.
    fn list_at(&self, path: &[Elem]) -> ListKind {
        let field = path.iter().rev().find_map(|e| match e {
            Elem::Field(f) => Some(f.as_str()),
            _ => None,
        });
        let in_metadata = matches!(path.first(), Some(Elem::Field(f)) if f == "metadata");
        match self {
            Shape::Schema(root) if !in_metadata => {
                let mut s = *root;
                for e in path {
                    s = match e {
                        Elem::Field(f) => match s["properties"].get(f) {
                            Some(p) => p,
                            None => &s["additionalProperties"],
                        },
                        _ => &s["items"],
                    };
                }
                match s["x-kubernetes-list-type"].as_str() {
                    Some("set") => ListKind::Set,
                    Some("map") => ListKind::Map(
                        s["x-kubernetes-list-map-keys"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|k| k.as_str().map(String::from))
                            .collect(),
                    ),
                    _ => ListKind::Atomic,
                }
            }
            _ => field.map(builtin_list).unwrap_or(ListKind::Atomic),
        }
    }
}

fn key_of(item: &Value, keys: &[String]) -> String {
    let m: Map<String, Value> = keys
        .iter()
        .filter_map(|k| item.get(k).map(|v| (k.clone(), v.clone())))
        .collect();
    Value::Object(m).to_string()
}

/// Member paths of `value` below `prefix`.
fn collect(value: &Value, shape: Shape, prefix: &mut Path, out: &mut Set) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                prefix.push(Elem::Field(k.clone()));
                collect(v, shape, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => match shape.list_at(prefix) {
            ListKind::Atomic => {
                out.insert(prefix.clone());
            }
            ListKind::Set => {
                for item in items {
                    let mut p = prefix.clone();
                    p.push(Elem::Value(item.to_string()));
                    out.insert(p);
                }
            }
            ListKind::Map(keys) => {
                for item in items {
                    prefix.push(Elem::Key(key_of(item, &keys)));
                    out.insert(prefix.clone());
                    collect(item, shape, prefix, out);
                    prefix.pop();
                }
            }
        },
        _ => {
            out.insert(prefix.clone());
        }
    }
}

/// Which part of an object a write owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything but server-set metadata (and status, when it has its own subresource).
    Main {
        status_separate: bool,
    },
    Status,
}

const SERVER_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
    "generateName",
];

/// The member paths of an object a manager of `scope` can own.
pub fn fields_of(obj: &Value, shape: Shape, scope: Scope) -> Set {
    let mut out = Set::new();
    let Some(m) = obj.as_object() else { return out };
    for (k, v) in m {
        let take = match (scope, k.as_str()) {
            (_, "apiVersion" | "kind") => false,
            (Scope::Status, key) => key == "status",
            (Scope::Main { status_separate }, "status") => !status_separate,
            _ => true,
        };
        if !take {
            continue;
        }
        let mut v = v.clone();
        if k == "metadata"
            && let Some(meta) = v.as_object_mut()
        {
            for f in SERVER_METADATA {
                meta.remove(*f);
            }
            if meta.is_empty() {
                continue;
            }
        }
        let mut prefix = vec![Elem::Field(k.clone())];
        collect(&v, shape, &mut prefix, &mut out);
    }
    out
}

fn step<'a>(v: &'a Value, e: &Elem) -> Option<&'a Value> {
    match e {
        Elem::Field(f) => v.get(f),
        Elem::Key(k) => {
            let want: Map<String, Value> = serde_json::from_str(k).ok()?;
            v.as_array()?
                .iter()
                .find(|item| want.iter().all(|(kk, vv)| item.get(kk) == Some(vv)))
        }
        Elem::Value(s) => {
            let want: Value = serde_json::from_str(s).ok()?;
            v.as_array()?.iter().find(|item| **item == want)
        }
    }
}

pub fn get<'a>(v: &'a Value, path: &[Elem]) -> Option<&'a Value> {
    path.iter().try_fold(v, step)
}

fn remove(obj: &mut Value, path: &[Elem]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for e in parent {
        let next = match e {
            Elem::Field(f) => cur.get_mut(f),
            _ => {
                let found = step(cur, e).cloned();
                cur.as_array_mut()
                    .and_then(|a| a.iter_mut().find(|i| Some(&**i) == found.as_ref()))
            }
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match last {
        Elem::Field(f) => {
            if let Some(m) = cur.as_object_mut() {
                m.remove(f);
            }
        }
        e => {
            let found = step(cur, e).cloned();
            if let (Some(a), Some(found)) = (cur.as_array_mut(), found) {
                a.retain(|i| *i != found);
            }
        }
    }
}

/// Merges an applied configuration into the live object, lists per their kind.
fn merge(live: &mut Value, config: &Value, shape: Shape, path: &mut Path) {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) => {
            for (k, v) in c {
                if v.is_null() {
                    continue;
                }
                path.push(Elem::Field(k.clone()));
                match l.get_mut(k) {
                    Some(existing) => merge(existing, v, shape, path),
                    None => {
                        l.insert(k.clone(), v.clone());
                    }
                }
                path.pop();
            }
        }
        (Value::Array(l), Value::Array(c)) => match shape.list_at(path) {
            ListKind::Atomic => *l = c.clone(),
            ListKind::Set => {
                for item in c {
                    if !l.contains(item) {
                        l.push(item.clone());
                    }
                }
            }
            ListKind::Map(keys) => {
                for item in c {
                    let key = key_of(item, &keys);
                    path.push(Elem::Key(key.clone()));
                    match l.iter_mut().find(|x| key_of(x, &keys) == key) {
                        Some(existing) => merge(existing, item, shape, path),
                        None => l.push(item.clone()),
                    }
                    path.pop();
                }
            }
        },
        (live, config) => *live = config.clone(),
    }
}

/// Renders a set as `FieldsV1`.
pub fn to_fields_v1(set: &Set) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for e in path {
            let key = match e {
                Elem::Field(f) => format!("f:{f}"),
                Elem::Key(k) => format!("k:{k}"),
                Elem::Value(v) => format!("v:{v}"),
            };
            node = node
                .entry(key)
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("inserted an object");
        }
    }
    // A member that later got children is marked with ".".
    fn mark(v: &mut Value, set: &Set, path: &mut Path) {
        if let Some(m) = v.as_object_mut() {
            if !path.is_empty() && set.contains(path) && !m.is_empty() {
                m.insert(".".into(), json!({}));
            }
            for (k, child) in m.iter_mut() {
                let e = match k.split_at(2.min(k.len())) {
                    ("f:", f) => Elem::Field(f.into()),
                    ("k:", k) => Elem::Key(k.into()),
                    ("v:", v) => Elem::Value(v.into()),
                    _ => continue,
                };
                path.push(e);
                mark(child, set, path);
                path.pop();
            }
        }
    }
    let mut v = Value::Object(root);
    mark(&mut v, set, &mut Vec::new());
    v
}

/// Reads `FieldsV1` back into a set.
pub fn from_fields_v1(v: &Value) -> Set {
    fn walk(v: &Value, path: &mut Path, out: &mut Set) {
        let Some(m) = v.as_object() else { return };
        if m.is_empty() || m.contains_key(".") {
            if !path.is_empty() {
                out.insert(path.clone());
            }
        }
        for (k, child) in m {
            let e = match k.split_at(2.min(k.len())) {
                ("f:", f) => Elem::Field(f.into()),
                ("k:", k) => Elem::Key(k.into()),
                ("v:", v) => Elem::Value(v.into()),
                _ => continue,
            };
            path.push(e);
            walk(child, path, out);
            path.pop();
        }
    }
    let mut out = Set::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

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
    let mut dropped: Vec<&Path> = previous.difference(&new_set).collect();
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in dropped {
        if !others.iter().any(|o| o.starts_with(p)) {
            remove(&mut obj, p);
        }
    }
    if force {
        for e in list.iter_mut().filter(|e| e.manager != m.name) {
            e.set = e.set.difference(&new_set).cloned().collect();
        }
    }
    match list.iter_mut().find(|e| m.is(e, "Apply")) {
        Some(e) if e.set == new_set => {}
        Some(e) => *e = m.entry("Apply", new_set),
        None => list.push(m.entry("Apply", new_set)),
    }
    store_entries(&mut obj, list);
    Ok(obj)
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
