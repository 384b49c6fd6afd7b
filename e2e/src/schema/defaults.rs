//! Structural defaulting: a missing (or null, non-nullable) property with a `default` gets it,
//! top-down, so a defaulted object gets its own nested defaults too. Applied on create and
//! update, and when objects are read, as upstream does.

use serde_json::Value;

pub fn apply(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(props) = schema["properties"].as_object() {
                for (k, sub) in props {
                    let Some(default) = sub.get("default") else {
                        continue;
                    };
                    let missing = match map.get(k) {
                        None => true,
                        Some(Value::Null) => !sub["nullable"].as_bool().unwrap_or(false),
                        Some(_) => false,
                    };
                    if missing {
                        map.insert(k.clone(), default.clone());
                    }
                }
                for (k, v) in map.iter_mut() {
                    if let Some(sub) = props.get(k) {
                        apply(sub, v);
                    }
                }
            } else if schema["additionalProperties"].is_object() {
                for v in map.values_mut() {
                    apply(&schema["additionalProperties"], v);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                apply(&schema["items"], item);
            }
        }
        _ => {}
    }
}

/// Whether the schema has any default at all (reads skip defaulting otherwise).
pub fn has_defaults(schema: &Value) -> bool {
    match schema {
        Value::Object(m) => m.contains_key("default") || m.values().any(has_defaults),
        Value::Array(a) => a.iter().any(has_defaults),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_defaults() {
        let schema = json!({"properties": {"spec": {"type": "object", "default": {}, "properties": {"replicas": {"type": "integer", "default": 1}, "mode": {"type": "string", "default": "auto"}}}}});
        let mut obj = json!({"metadata": {}});
        apply(&schema, &mut obj);
        assert_eq!(obj["spec"], json!({"replicas": 1, "mode": "auto"}));
        let mut obj = json!({"spec": {"replicas": 3, "mode": null}});
        apply(&schema, &mut obj);
        assert_eq!(obj["spec"], json!({"replicas": 3, "mode": "auto"}));
    }
}
