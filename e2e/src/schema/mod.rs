//! Structural-schema validation for custom resources: types, `required`, `enum`, numeric and
//! length bounds, `nullable`, `x-kubernetes-int-or-string`, and pruning of unknown fields
//! (reported as unknown for `fieldValidation=Strict`) unless `x-kubernetes-preserve-unknown-fields`.

use serde_json::Value;

/// Problems found in one object.
#[derive(Debug, Default)]
pub struct Findings {
    /// `(field path, message)` pairs for a 422.
    pub invalid: Vec<(String, String)>,
    /// Paths of pruned unknown fields.
    pub unknown: Vec<String>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Validates `value` against `schema` in place, pruning unknown fields.
pub fn validate(schema: &Value, value: &mut Value, path: &str, out: &mut Findings) {
    if !schema.is_object() {
        return;
    }
    if value.is_null() {
        if !schema["nullable"].as_bool().unwrap_or(false) && !path.is_empty() {
            out.invalid.push((
                path.into(),
                format!(
                    "Invalid value: \"null\": {path} in body must be of type {}: \"null\"",
                    schema["type"].as_str().unwrap_or("object")
                ),
            ));
        }
        return;
    }
    let int_or_string = schema["x-kubernetes-int-or-string"]
        .as_bool()
        .unwrap_or(false);
    if let Some(want) = schema["type"].as_str() {
        let have = type_name(value);
        let ok = have == want
            || (want == "number" && have == "integer")
            || (int_or_string && matches!(have, "integer" | "string"));
        if !ok {
            out.invalid.push((
                path.into(),
                format!(
                    "Invalid value: \"{have}\": {path} in body must be of type {want}: \"{have}\""
                ),
            ));
            return;
        }
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(|v| v.to_string()).collect();
        out.invalid.push((
            path.into(),
            format!(
                "Unsupported value: {value}: supported values: {}",
                list.join(", ")
            ),
        ));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema["minimum"].as_f64().filter(|m| n < *m) {
            out.invalid.push((
                path.into(),
                format!(
                    "Invalid value: {n}: {path} in body should be greater than or equal to {min}"
                ),
            ));
        }
        if let Some(max) = schema["maximum"].as_f64().filter(|m| n > *m) {
            out.invalid.push((
                path.into(),
                format!("Invalid value: {n}: {path} in body should be less than or equal to {max}"),
            ));
        }
    }
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        if let Some(min) = schema["minLength"].as_u64().filter(|m| len < *m) {
            out.invalid.push((
                path.into(),
                format!("Invalid value: {s:?}: {path} in body should be at least {min} chars long"),
            ));
        }
        if let Some(max) = schema["maxLength"].as_u64().filter(|m| len > *m) {
            out.invalid.push((
                path.into(),
                format!("Too long: may not be more than {max} bytes"),
            ));
        }
    }
    match value {
        Value::Object(map) => {
            for req in schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !map.contains_key(req) {
                    out.invalid.push((join(path, req), "Required value".into()));
                }
            }
            let props = schema["properties"].as_object();
            let additional = &schema["additionalProperties"];
            let preserve = schema["x-kubernetes-preserve-unknown-fields"]
                .as_bool()
                .unwrap_or(false);
            let mut unknown = Vec::new();
            for (k, v) in map.iter_mut() {
                // Metadata is validated by the server itself, not by the CRD schema.
                if path.is_empty() && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let child = join(path, k);
                if let Some(s) = props.and_then(|p| p.get(k)) {
                    validate(s, v, &child, out);
                } else if additional.is_object() {
                    validate(additional, v, &child, out);
                } else if !preserve
                    && additional.as_bool() != Some(true)
                    && (props.is_some() || schema["type"] == "object")
                {
                    unknown.push(k.clone());
                    out.unknown.push(child);
                }
            }
            for k in unknown {
                map.remove(&k);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                validate(&schema["items"], item, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_required_and_pruning() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "required": ["size"], "properties": {"size": {"type": "integer", "minimum": 1}}}}});
        let mut obj = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"}, "spec": {"size": "big", "extra": 1}});
        let mut f = Findings::default();
        validate(&schema, &mut obj, "", &mut f);
        assert_eq!(f.invalid.len(), 1, "{f:?}");
        assert_eq!(f.unknown, vec!["spec.extra".to_string()]);
        assert!(obj["spec"].get("extra").is_none());
        let mut missing = json!({"spec": {}});
        let mut f = Findings::default();
        validate(&schema, &mut missing, "", &mut f);
        assert_eq!(f.invalid[0].0, "spec.size");
    }
}
