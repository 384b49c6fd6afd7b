//! CEL validation rules (`x-kubernetes-validations`): `self` is the value at the rule's node,
//! `oldSelf` its previous value on update. Rules that mention `oldSelf` are transition rules
//! and run only when there is an old value (unless `optionalOldSelf`). Messages come from
//! `message`, `messageExpression` or `failed rule: <rule>`; `reason` and `fieldPath` shape the
//! field error as upstream does.

use serde_json::Value;

use super::Validator;
use crate::celenv::{Activation, as_string, to_cel};

fn mentions_old_self(rule: &str) -> bool {
    rule.match_indices("oldSelf").any(|(i, _)| {
        let before = rule[..i].chars().last();
        let after = rule[i + "oldSelf".len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

pub fn check(
    v: &mut Validator,
    schema: &Value,
    rules: &[Value],
    value: &Value,
    old: Option<&Value>,
    path: &str,
) {
    let Some(cel) = v.cel else { return };
    let type_name = schema["type"].as_str().unwrap_or("object");
    for rule in rules {
        let source = rule["rule"].as_str().unwrap_or_default();
        let transition = mentions_old_self(source);
        let optional = rule["optionalOldSelf"] == true;
        if transition && old.is_none() && !optional {
            continue;
        }
        let mut vars = vec![("self".to_string(), to_cel(value))];
        if transition {
            vars.push(("oldSelf".to_string(), to_cel(old.unwrap_or(&Value::Null))));
        }
        let activation = Activation {
            vars,
            authorizer: None,
        };
        let mut field = if path.is_empty() {
            "<nil>".to_string()
        } else {
            path.to_string()
        };
        if let Some(fp) = rule["fieldPath"].as_str().filter(|f| !f.is_empty()) {
            field = if path.is_empty() {
                fp.trim_start_matches('.').to_string()
            } else {
                format!("{path}{fp}")
            };
        }
        let message = match cel.eval(source, &activation) {
            Ok(cel::Value::Bool(true)) => continue,
            Ok(cel::Value::Bool(false)) => rule["messageExpression"]
                .as_str()
                .and_then(|m| cel.eval(m, &activation).ok())
                .and_then(|m| as_string(&m))
                .filter(|m| !m.trim().is_empty())
                .or_else(|| rule["message"].as_str().map(|m| m.trim().to_string()))
                .unwrap_or_else(|| format!("failed rule: {source}")),
            Ok(other) => format!("rule evaluation error: expected a bool, got {other:?}"),
            Err(e) => format!("{source}: {e}"),
        };
        let error = match rule["reason"].as_str() {
            Some("FieldValueForbidden") => format!("Forbidden: {message}"),
            Some("FieldValueRequired") => format!("Required value: {message}"),
            Some("FieldValueDuplicate") => format!("Duplicate value: \"{type_name}\""),
            _ => format!("Invalid value: \"{type_name}\": {message}"),
        };
        v.invalid(&field, error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::celenv::Cache;
    use serde_json::json;

    #[test]
    fn transition_rules_need_an_old_value() {
        let cache = Cache::default();
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "spec is immutable"}, {"rule": "self.size < 10", "messageExpression": "'size ' + string(self.size) + ' is too big'"}], "properties": {"size": {"type": "integer"}}}}});
        let mut v = Validator::new(Some(&cache));
        v.validate(&schema, &mut json!({"spec": {"size": 1}}), None, "");
        assert!(v.out.invalid.is_empty(), "{:?}", v.out);
        let mut v = Validator::new(Some(&cache));
        v.validate(
            &schema,
            &mut json!({"spec": {"size": 12}}),
            Some(&json!({"spec": {"size": 1}})),
            "",
        );
        assert_eq!(
            v.out.invalid,
            vec![
                (
                    "spec".to_string(),
                    "Invalid value: \"object\": spec is immutable".to_string()
                ),
                (
                    "spec".to_string(),
                    "Invalid value: \"object\": size 12 is too big".to_string()
                ),
            ]
        );
        assert!(mentions_old_self("self == oldSelf") && !mentions_old_self("self.oldSelfish"));
    }
}
