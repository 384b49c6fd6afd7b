//! Patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and the subset of
//! strategic merge patch kubectl produces for built-in kinds. Server-side apply is in
//! `fieldmanager`.

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// The `Content-Type` of a PATCH request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> ApiResult<Self> {
        match ct.split(';').next().unwrap_or_default().trim() {
            "application/merge-patch+json" => Ok(Self::Merge),
            "application/json-patch+json" => Ok(Self::Json),
            "application/strategic-merge-patch+json" => Ok(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(Self::Apply),
            other => Err(ApiError::unsupported_media(other)),
        }
    }
}

/// RFC 7386: objects merge recursively, `null` deletes, everything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Decodes one JSON pointer segment (`~1` is `/`, `~0` is `~`).
fn unescape(seg: &str) -> String {
    seg.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> ApiResult<(Vec<String>, String)> {
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| ApiError::bad_request(format!("invalid JSON pointer {path:?}")))?;
    let mut segs: Vec<String> = rest.split('/').map(unescape).collect();
    let last = segs.pop().unwrap_or_default();
    Ok((segs, last))
}

fn parent_mut<'a>(doc: &'a mut Value, segs: &[String], path: &str) -> ApiResult<&'a mut Value> {
    let missing = || {
        ApiError::new(
            422,
            "Invalid",
            format!(
                "the server rejected our request due to an error in our request: path {path:?} not found"
            ),
        )
    };
    let mut cur = doc;
    for seg in segs {
        cur = match cur {
            Value::Object(m) => m.get_mut(seg).ok_or_else(missing)?,
            Value::Array(a) => a
                .get_mut(seg.parse::<usize>().map_err(|_| missing())?)
                .ok_or_else(missing)?,
            _ => return Err(missing()),
        };
    }
    Ok(cur)
}

fn pointer_remove(doc: &mut Value, path: &str) -> ApiResult<Value> {
    let (segs, last) = split_pointer(path)?;
    let missing = || {
        ApiError::new(
            422,
            "Invalid",
            format!(
                "the server rejected our request due to an error in our request: unable to remove nonexistent key: {last}"
            ),
        )
    };
    match parent_mut(doc, &segs, path)? {
        Value::Object(m) => m.remove(&last).ok_or_else(missing),
        Value::Array(a) => {
            let i = last
                .parse::<usize>()
                .ok()
                .filter(|i| *i < a.len())
                .ok_or_else(missing)?;
            Ok(a.remove(i))
        }
        _ => Err(missing()),
    }
}

fn pointer_add(doc: &mut Value, path: &str, value: Value) -> ApiResult<()> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (segs, last) = split_pointer(path)?;
    match parent_mut(doc, &segs, path)? {
        Value::Object(m) => {
            m.insert(last, value);
            Ok(())
        }
        Value::Array(a) if last == "-" => {
            a.push(value);
            Ok(())
        }
        Value::Array(a) => match last.parse::<usize>() {
            Ok(i) if i <= a.len() => {
                a.insert(i, value);
                Ok(())
            }
            _ => Err(ApiError::new(
                422,
                "Invalid",
                format!("index out of range in path {path:?}"),
            )),
        },
        _ => Err(ApiError::new(
            422,
            "Invalid",
            format!("path {path:?} has no parent object"),
        )),
    }
}

/// RFC 6902 JSON patch.
pub fn json_patch(doc: &mut Value, ops: &Value) -> ApiResult<()> {
    let ops = ops
        .as_array()
        .ok_or_else(|| ApiError::bad_request("json patch must be an array of operations"))?;
    for op in ops {
        let path = op["path"].as_str().unwrap_or_default();
        match op["op"].as_str().unwrap_or_default() {
            "add" => pointer_add(doc, path, op["value"].clone())?,
            "remove" => {
                pointer_remove(doc, path)?;
            }
            "replace" => {
                pointer_remove(doc, path)?;
                pointer_add(doc, path, op["value"].clone())?;
            }
            "move" => {
                let v = pointer_remove(doc, op["from"].as_str().unwrap_or_default())?;
                pointer_add(doc, path, v)?;
            }
            "copy" => {
                let v = doc
                    .pointer(op["from"].as_str().unwrap_or_default())
                    .cloned()
                    .unwrap_or(Value::Null);
                pointer_add(doc, path, v)?;
            }
            "test" => {
                // As the API server's json-patch library does, a missing member tests equal to
                // null (kube-rs adds the first finalizer with `test /metadata/finalizers null`).
                let found = doc.pointer(path).unwrap_or(&Value::Null);
                if *found != op["value"] {
                    return Err(ApiError::new(
                        422,
                        "Invalid",
                        format!("testing value {path} failed"),
                    ));
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown json patch operation {other:?}"
                )));
            }
        }
    }
    Ok(())
}

/// The merge key strategic merge patch uses for a list field of the built-in kinds.
fn merge_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets" => "name",
        "volumeMounts" | "volumeDevices" => "mountPath",
        "ports" => "containerPort",
        "ownerReferences" => "uid",
        "conditions" => "type",
        _ => return None,
    })
}

/// Lists of scalars that strategic merge patch unions instead of replacing.
fn merges_primitives(field: &str) -> bool {
    field == "finalizers"
}

/// Strategic merge patch for the built-in kinds: keyed lists merge by their merge key,
/// `$patch: replace|delete`, `$retainKeys` and `$deleteFromPrimitiveList/` directives apply,
/// and `$setElementOrder/` directives are accepted (order is not enforced).
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replacement = p.clone();
        replacement.remove("$patch");
        *target = Value::Object(replacement);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(remove)) = (t.get_mut(field), v.as_array()) {
                list.retain(|x| !remove.contains(x));
            }
            continue;
        }
        if v.is_null() || v.get("$patch").and_then(Value::as_str) == Some("delete") {
            t.remove(k);
            continue;
        }
        match (t.get_mut(k), v) {
            (Some(Value::Array(live)), Value::Array(items)) if merge_key(k).is_some() => {
                merge_keyed_list(live, items, merge_key(k).expect("checked"));
            }
            (Some(Value::Array(live)), Value::Array(items)) if merges_primitives(k) => {
                for item in items {
                    if !live.contains(item) {
                        live.push(item.clone());
                    }
                }
            }
            (Some(live @ Value::Object(_)), Value::Object(_)) => strategic_merge(live, v),
            _ => {
                let mut fresh = Value::Null;
                strategic_merge(&mut fresh, v);
                t.insert(k.clone(), fresh);
            }
        }
    }
    if let Some(Value::Array(keep)) = p.get("$retainKeys") {
        t.retain(|k, _| keep.iter().any(|x| x.as_str() == Some(k)));
    }
}

fn merge_keyed_list(live: &mut Vec<Value>, items: &[Value], key: &str) {
    for item in items {
        let position = live
            .iter()
            .position(|l| l.get(key).is_some() && l.get(key) == item.get(key));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(i), true) => {
                live.remove(i);
            }
            (Some(i), false) => strategic_merge(&mut live[i], item),
            (None, true) => {}
            (None, false) => {
                let mut fresh = Value::Null;
                strategic_merge(&mut fresh, item);
                live.push(fresh);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name_and_deletes_env() {
        let mut live = json!({"spec": {"containers": [{"name": "a", "image": "x", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}});
        let patch = json!({"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "a", "image": "y", "env": [{"name": "B", "$patch": "delete"}]}, {"name": "b", "image": "z"}]}});
        strategic_merge(&mut live, &patch);
        assert_eq!(live["spec"]["containers"][0]["image"], "y");
        assert_eq!(
            live["spec"]["containers"][0]["env"],
            json!([{"name": "A", "value": "1"}])
        );
        assert_eq!(live["spec"]["containers"][1]["name"], "b");
    }

    #[test]
    fn json_patch_add_replace_remove_and_test() {
        let mut doc = json!({"a": [1, 2], "b": {"c": 1}});
        json_patch(&mut doc, &json!([{"op": "add", "path": "/a/-", "value": 3}, {"op": "replace", "path": "/b/c", "value": 2}, {"op": "remove", "path": "/a/0"}, {"op": "test", "path": "/b/c", "value": 2}])).unwrap();
        json_patch(
            &mut doc,
            &json!([{"op": "test", "path": "/missing", "value": null}]),
        )
        .unwrap();
        assert!(
            json_patch(
                &mut doc,
                &json!([{"op": "test", "path": "/missing", "value": 1}])
            )
            .is_err()
        );
        assert_eq!(doc, json!({"a": [2, 3], "b": {"c": 2}}));
        assert_eq!(
            json_patch(&mut doc, &json!([{"op": "remove", "path": "/zz"}]))
                .unwrap_err()
                .code,
            422
        );
    }
}
