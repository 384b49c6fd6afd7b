//! Structural-schema validation for custom resources: types, `required`, `enum`, numeric and
//! length bounds, `pattern`, `format`, item and property counts, `oneOf`/`anyOf`/`allOf`/`not`,
//! `nullable`, `x-kubernetes-int-or-string`, list-type uniqueness, CEL
//! `x-kubernetes-validations` (`rules`), and pruning of unknown fields (reported as unknown for
//! `fieldValidation=Strict`) unless `x-kubernetes-preserve-unknown-fields`. Defaults are in
//! `defaults`.

pub mod defaults;
mod formats;
mod rules;

use serde_json::Value;

use crate::celenv::Cache;

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

/// One validation pass: findings, plus the CEL programs rules compile to.
pub struct Validator<'a> {
    pub cel: Option<&'a Cache>,
    pub out: Findings,
}

impl<'a> Validator<'a> {
    pub fn new(cel: Option<&'a Cache>) -> Self {
        Self {
            cel,
            out: Findings::default(),
        }
    }

    fn invalid(&mut self, path: &str, message: String) {
        self.out.invalid.push((path.into(), message));
    }

    /// Validates `value` (and, for transition rules, its `old` counterpart) against `schema`
    /// in place, pruning unknown fields.
    pub fn validate(&mut self, schema: &Value, value: &mut Value, old: Option<&Value>, path: &str) {
        if !schema.is_object() {
            return;
        }
        if value.is_null() {
            if !schema["nullable"].as_bool().unwrap_or(false) && !path.is_empty() {
                self.invalid(
                    path,
                    format!(
                        "Invalid value: \"null\": {path} in body must be of type {}: \"null\"",
                        schema["type"].as_str().unwrap_or("object")
                    ),
                );
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
                self.invalid(
                    path,
                    format!("Invalid value: \"{have}\": {path} in body must be of type {want}: \"{have}\""),
                );
                return;
            }
        }
        self.value_checks(schema, value, path);
        match value {
            Value::Object(map) => {
                for req in schema["required"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if !map.contains_key(req) {
                        self.invalid(&join(path, req), "Required value".into());
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
                    let old_child = old.and_then(|o| o.get(k));
                    if let Some(s) = props.and_then(|p| p.get(k)) {
                        self.validate(s, v, old_child, &child);
                    } else if additional.is_object() {
                        self.validate(additional, v, old_child, &child);
                    } else if !preserve
                        && additional.as_bool() != Some(true)
                        && (props.is_some() || schema["type"] == "object")
                    {
                        unknown.push(k.clone());
                        self.out.unknown.push(child);
                    }
                }
                for k in unknown {
                    map.remove(&k);
                }
            }
            Value::Array(items) => {
                let keys: Vec<&str> = schema["x-kubernetes-list-map-keys"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let is_map = schema["x-kubernetes-list-type"] == "map";
                for (i, item) in items.iter_mut().enumerate() {
                    // Items of map lists correlate with the old item of the same keys.
                    let old_item = if is_map {
                        old.and_then(Value::as_array).and_then(|olds| {
                            olds.iter()
                                .find(|o| keys.iter().all(|k| o.get(*k) == item.get(*k)))
                        })
                    } else {
                        None
                    };
                    let old_item = old_item.cloned();
                    self.validate(
                        &schema["items"],
                        item,
                        old_item.as_ref(),
                        &format!("{path}[{i}]"),
                    );
                }
                self.list_uniqueness(schema, items, path, &keys);
            }
            _ => {}
        }
        if let Some(rules) = schema["x-kubernetes-validations"].as_array() {
            rules::check(self, schema, rules, value, old, path);
        }
    }

    /// Checks on the value itself: enum, bounds, pattern, format, counts, compositions.
    fn value_checks(&mut self, schema: &Value, value: &Value, path: &str) {
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            let list: Vec<String> = allowed.iter().map(|v| v.to_string()).collect();
            self.invalid(
                path,
                format!(
                    "Unsupported value: {value}: supported values: {}",
                    list.join(", ")
                ),
            );
        }
        if let Some(n) = value.as_f64() {
            let exclusive_min = schema["exclusiveMinimum"] == true;
            let exclusive_max = schema["exclusiveMaximum"] == true;
            if let Some(min) = schema["minimum"]
                .as_f64()
                .filter(|m| n < *m || (exclusive_min && n == *m))
            {
                let op = if exclusive_min {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                self.invalid(
                    path,
                    format!("Invalid value: {n}: {path} in body should be {op} {min}"),
                );
            }
            if let Some(max) = schema["maximum"]
                .as_f64()
                .filter(|m| n > *m || (exclusive_max && n == *m))
            {
                let op = if exclusive_max {
                    "less than"
                } else {
                    "less than or equal to"
                };
                self.invalid(
                    path,
                    format!("Invalid value: {n}: {path} in body should be {op} {max}"),
                );
            }
            if let Some(m) = schema["multipleOf"]
                .as_f64()
                .filter(|m| *m > 0.0 && (n / m).fract() != 0.0)
            {
                self.invalid(
                    path,
                    format!("Invalid value: {n}: {path} in body should be a multiple of {m}"),
                );
            }
        }
        if let Some(s) = value.as_str() {
            let len = s.chars().count() as u64;
            if let Some(min) = schema["minLength"].as_u64().filter(|m| len < *m) {
                self.invalid(
                    path,
                    format!(
                        "Invalid value: {s:?}: {path} in body should be at least {min} chars long"
                    ),
                );
            }
            if let Some(max) = schema["maxLength"].as_u64().filter(|m| len > *m) {
                self.invalid(path, format!("Too long: may not be more than {max} bytes"));
            }
            if let Some(pattern) = schema["pattern"].as_str() {
                match regex::Regex::new(pattern) {
                    Ok(re) if !re.is_match(s) => self.invalid(
                        path,
                        format!("Invalid value: {s:?}: {path} in body should match '{pattern}'"),
                    ),
                    _ => {}
                }
            }
            if let Some(format) = schema["format"].as_str()
                && !formats::valid(format, s)
            {
                self.invalid(
                    path,
                    format!("Invalid value: {s:?}: {path} in body must be of type {format}: {s:?}"),
                );
            }
        }
        if let Some(items) = value.as_array() {
            let n = items.len() as u64;
            if let Some(max) = schema["maxItems"].as_u64().filter(|m| n > *m) {
                self.invalid(
                    path,
                    format!("Too many: {n}: must have at most {max} items"),
                );
            }
            if let Some(min) = schema["minItems"].as_u64().filter(|m| n < *m) {
                self.invalid(
                    path,
                    format!("Invalid value: {n}: {path} in body should have at least {min} items"),
                );
            }
        }
        if let Some(map) = value.as_object().filter(|_| !path.is_empty()) {
            let n = map.len() as u64;
            if let Some(max) = schema["maxProperties"].as_u64().filter(|m| n > *m) {
                self.invalid(
                    path,
                    format!("Too many: {n}: must have at most {max} items"),
                );
            }
            if let Some(min) = schema["minProperties"].as_u64().filter(|m| n < *m) {
                self.invalid(
                    path,
                    format!(
                        "Invalid value: {n}: {path} in body should have at least {min} properties"
                    ),
                );
            }
        }
        self.compositions(schema, value, path);
    }

    /// `oneOf`, `anyOf`, `allOf` and `not`: value validations against sub-schemas.
    fn compositions(&mut self, schema: &Value, value: &Value, path: &str) {
        let passes = |sub: &Value| {
            let mut v = Validator::new(None);
            let mut copy = value.clone();
            v.value_only(sub, &mut copy, path);
            v.out.invalid.is_empty()
        };
        if let Some(subs) = schema["oneOf"].as_array()
            && subs.iter().filter(|s| passes(s)).count() != 1
        {
            self.invalid(path, format!("Invalid value: {value}: {path} in body must validate one and only one schema (oneOf)"));
        }
        if let Some(subs) = schema["anyOf"].as_array()
            && !subs.iter().any(passes)
        {
            self.invalid(path, format!("Invalid value: {value}: {path} in body must validate at least one schema (anyOf)"));
        }
        if let Some(subs) = schema["allOf"].as_array()
            && !subs.iter().all(passes)
        {
            self.invalid(
                path,
                format!(
                    "Invalid value: {value}: {path} in body must validate all the schemas (allOf)"
                ),
            );
        }
        if let Some(not) = schema.get("not").filter(|n| n.is_object())
            && passes(not)
        {
            self.invalid(
                path,
                format!(
                    "Invalid value: {value}: {path} in body must not validate the schema (not)"
                ),
            );
        }
    }

    /// Sub-schemas of compositions carry no types or pruning: required fields and nested
    /// properties' value checks only.
    fn value_only(&mut self, schema: &Value, value: &mut Value, path: &str) {
        if let Some(want) = schema["type"].as_str() {
            let have = type_name(value);
            if have != want && !(want == "number" && have == "integer") {
                self.invalid(
                    path,
                    format!("Invalid value: \"{have}\": must be of type {want}"),
                );
                return;
            }
        }
        self.value_checks(schema, value, path);
        if let Value::Object(map) = value {
            for req in schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !map.contains_key(req) {
                    self.invalid(&join(path, req), "Required value".into());
                }
            }
            for (k, sub) in schema["properties"].as_object().into_iter().flatten() {
                if let Some(v) = map.get_mut(k) {
                    self.value_only(sub, v, &join(path, k));
                }
            }
        }
    }

    /// `x-kubernetes-list-type: set` values and `map` keys must be unique.
    fn list_uniqueness(&mut self, schema: &Value, items: &[Value], path: &str, keys: &[&str]) {
        let list_type = schema["x-kubernetes-list-type"]
            .as_str()
            .unwrap_or("atomic");
        for (i, item) in items.iter().enumerate() {
            let earlier = &items[..i];
            let duplicate = match list_type {
                "set" => earlier.contains(item),
                "map" => earlier
                    .iter()
                    .any(|e| keys.iter().all(|k| e.get(*k) == item.get(*k))),
                _ => false,
            };
            if duplicate {
                let shown = if list_type == "map" {
                    let pairs: serde_json::Map<String, Value> = keys
                        .iter()
                        .map(|k| (k.to_string(), item.get(*k).cloned().unwrap_or(Value::Null)))
                        .collect();
                    Value::Object(pairs).to_string()
                } else {
                    item.to_string()
                };
                self.invalid(&format!("{path}[{i}]"), format!("Duplicate value: {shown}"));
            }
        }
    }
}

/// Validates without transition rules or CEL (for callers that have no old object).
pub fn validate(schema: &Value, value: &mut Value, path: &str, out: &mut Findings) {
    let mut v = Validator::new(None);
    v.validate(schema, value, None, path);
    out.invalid.extend(v.out.invalid);
    out.unknown.extend(v.out.unknown);
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

    #[test]
    fn patterns_formats_counts_and_compositions() {
        let schema = json!({"type": "object", "properties": {
            "name": {"type": "string", "pattern": "^[a-z]+$"},
            "at": {"type": "string", "format": "date-time"},
            "tags": {"type": "array", "maxItems": 2, "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "source": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
        }});
        let mut ok = json!({"name": "abc", "at": "2024-01-02T03:04:05Z", "tags": ["x"], "source": {"a": "1"}});
        let mut v = Validator::new(None);
        v.validate(&schema, &mut ok, None, "spec");
        assert!(v.out.invalid.is_empty(), "{:?}", v.out);
        let mut bad = json!({"name": "ABC", "at": "yesterday", "tags": ["x", "x", "y"], "source": {"a": "1", "b": "2"}});
        let mut v = Validator::new(None);
        v.validate(&schema, &mut bad, None, "spec");
        let mut fields: Vec<&str> = v.out.invalid.iter().map(|(f, _)| f.as_str()).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "spec.at",
                "spec.name",
                "spec.source",
                "spec.tags",
                "spec.tags[1]"
            ],
            "{:?}",
            v.out
        );
    }
}
