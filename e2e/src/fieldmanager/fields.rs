//! Field sets: paths into an object (`f:` fields, `k:` keyed map-list items, `v:` set items),
//! the list kinds that decide them (a CRD's `x-kubernetes-list-type`, or the built-in kinds'
//! merge keys), `FieldsV1` encoding, and merging an applied configuration by those kinds.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

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

pub(super) fn remove(obj: &mut Value, path: &[Elem]) {
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

/// Whether `path` is one of the key fields of a map-list item (`...[k:{"name":..}].name`).
pub(super) fn is_key_field(path: &[Elem]) -> bool {
    match path {
        [.., Elem::Key(k), Elem::Field(f)] => {
            serde_json::from_str::<Map<String, Value>>(k).is_ok_and(|keys| keys.contains_key(f))
        }
        _ => false,
    }
}

/// Merges an applied configuration into the live object, lists per their kind.
pub(super) fn merge(live: &mut Value, config: &Value, shape: Shape, path: &mut Path) {
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
        if (m.is_empty() || m.contains_key(".")) && !path.is_empty() {
            out.insert(path.clone());
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
