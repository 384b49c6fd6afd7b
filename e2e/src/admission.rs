//! Validating admission policies (`admissionregistration.k8s.io/v1`): each binding's policy
//! is matched against the request (resource rules, operations, namespace and object selectors,
//! exclusions, the binding's own `matchResources`), then its `matchConditions`, `variables`,
//! `validations` and `auditAnnotations` are evaluated in CEL with `object`, `oldObject`,
//! `request`, `params`, `namespaceObject`, `variables` and `authorizer`. Failures act per
//! `validationActions` (Deny, Warn, Audit); errors per `failurePolicy`.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::api::{Cluster, Notes};
use crate::auth::User;
use crate::celenv::{Activation, Authorizer, as_string, to_cel};
use crate::error::{ApiError, ApiResult};
use crate::rbac::{Attributes, Rbac};
use crate::resources::ResourceInfo;
use crate::selectors::LabelSelector;
use crate::store::{Inner, ObjKey};

const GROUP: &str = "admissionregistration.k8s.io";

/// One write as admission sees it.
pub struct Request<'a> {
    /// CREATE, UPDATE or DELETE.
    pub operation: &'a str,
    pub res: &'a ResourceInfo,
    pub subresource: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub object: Option<&'a Value>,
    pub old: Option<&'a Value>,
    pub user: &'a User,
    pub dry_run: bool,
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

fn any_or(list: &Value, want: &str) -> bool {
    strings(list).iter().any(|s| *s == "*" || *s == want)
}

/// Whether one `NamedRuleWithOperations` covers the request.
fn rule_matches(rule: &Value, req: &Request) -> bool {
    let (res, sub) = (req.res.plural.as_str(), req.subresource);
    let resource_ok = strings(&rule["resources"]).iter().any(|r| {
        if sub.is_empty() {
            *r == "*" || *r == res
        } else {
            *r == "*/*"
                || *r == format!("{res}/{sub}")
                || *r == format!("*/{sub}")
                || *r == format!("{res}/*")
        }
    });
    let scope_ok = match rule["scope"].as_str().unwrap_or("*") {
        "Cluster" => !req.res.namespaced,
        "Namespaced" => req.res.namespaced,
        _ => true,
    };
    let names = strings(&rule["resourceNames"]);
    any_or(&rule["apiGroups"], &req.res.group)
        && rule["apiVersions"].as_array().is_none_or(|_| {
            req.res
                .versions
                .iter()
                .any(|v| any_or(&rule["apiVersions"], v))
        })
        && any_or(&rule["operations"], req.operation)
        && resource_ok
        && scope_ok
        && (names.is_empty() || names.contains(&req.name))
}

/// Whether `MatchResources` select the request.
fn resources_match(m: &Value, req: &Request, namespace: Option<&Value>) -> bool {
    let labels_of = |v: Option<&Value>| v.cloned().unwrap_or(Value::Null);
    if let Some(sel) = m.get("namespaceSelector").filter(|s| s.is_object()) {
        let subject = if req.res.builtin.is_some_and(|k| k.is_namespace()) {
            req.object.or(req.old).cloned()
        } else if req.res.namespaced {
            namespace.cloned()
        } else {
            None
        };
        if let Some(ns) = subject
            && !LabelSelector::from_object(sel).matches(&ns)
        {
            return false;
        }
    }
    if let Some(sel) = m.get("objectSelector").filter(|s| s.is_object()) {
        let sel = LabelSelector::from_object(sel);
        if !sel.matches(&labels_of(req.object)) && !sel.matches(&labels_of(req.old)) {
            return false;
        }
    }
    let rules = m["resourceRules"].as_array();
    let included = rules.is_none_or(|rules| rules.iter().any(|r| rule_matches(r, req)));
    let excluded = m["excludeResourceRules"]
        .as_array()
        .is_some_and(|rules| rules.iter().any(|r| rule_matches(r, req)));
    included && !excluded
}

fn request_value(req: &Request) -> Value {
    let version = req.res.preferred_version();
    json!({
        "kind": {"group": req.res.group, "version": version, "kind": req.res.kind},
        "resource": {"group": req.res.group, "version": version, "resource": req.res.plural},
        "subResource": req.subresource,
        "requestKind": {"group": req.res.group, "version": version, "kind": req.res.kind},
        "requestResource": {"group": req.res.group, "version": version, "resource": req.res.plural},
        "requestSubResource": req.subresource,
        "name": req.name,
        "namespace": req.namespace,
        "operation": req.operation,
        "userInfo": req.user.to_json(),
        "dryRun": req.dry_run,
        "options": {},
    })
}

/// A denied request, worded as upstream words it.
fn denial(req: &Request, policy: &str, binding: &str, message: &str, reason: &str) -> ApiError {
    let message = format!(
        "ValidatingAdmissionPolicy '{policy}' with binding '{binding}' denied request: {message}"
    );
    let qualified = if req.res.group.is_empty() {
        req.res.plural.clone()
    } else {
        format!("{}.{}", req.res.plural, req.res.group)
    };
    let full = if req.name.is_empty() {
        format!("{qualified} is forbidden: {message}")
    } else {
        format!("{qualified} \"{}\" is forbidden: {message}", req.name)
    };
    let (code, reason) = match reason {
        "Forbidden" => (403, "Forbidden"),
        "Unauthorized" => (401, "Unauthorized"),
        "RequestEntityTooLarge" => (413, "RequestEntityTooLarge"),
        _ => (422, "Invalid"),
    };
    let mut err = ApiError::new(code, reason, full);
    err.details = Some(
        json!({"name": req.name, "group": req.res.group, "kind": req.res.plural, "causes": [{"message": message}]}),
    );
    err
}

/// A failed check: what it says, and why it failed (the validation's reason).
struct Failure {
    message: String,
    reason: String,
}

impl Cluster {
    /// Runs every bound ValidatingAdmissionPolicy on `req`; `inner` is the locked store.
    pub fn admit(&self, inner: &Inner, req: &Request, notes: &Notes) -> ApiResult<()> {
        if req.res.builtin.is_some_and(|k| !k.admitted()) {
            return Ok(());
        }
        let bindings: Vec<&Value> = inner
            .list(GROUP, "validatingadmissionpolicybindings", None)
            .map(|(_, v)| v)
            .collect();
        if bindings.is_empty() {
            return Ok(());
        }
        let namespace = (!req.namespace.is_empty())
            .then(|| inner.get(&crate::kinds::namespace::key(req.namespace)))
            .flatten();
        let mut rbac: Option<Arc<Rbac>> = None;
        for binding in bindings {
            let policy_name = binding["spec"]["policyName"].as_str().unwrap_or_default();
            let Some(policy) = inner.get(&ObjKey::new(
                GROUP,
                "validatingadmissionpolicies",
                "",
                policy_name,
            )) else {
                continue;
            };
            let constraints = &policy["spec"]["matchConstraints"];
            if !resources_match(constraints, req, namespace)
                || binding["spec"]
                    .get("matchResources")
                    .filter(|m| m.is_object())
                    .is_some_and(|m| !resources_match(m, req, namespace))
            {
                continue;
            }
            let params = match self.params(inner, policy, binding, req) {
                Ok(p) => p,
                Err(message) => {
                    self.act(
                        req,
                        policy,
                        binding,
                        Failure {
                            message,
                            reason: String::new(),
                        },
                        notes,
                    )?;
                    continue;
                }
            };
            let rbac = rbac
                .get_or_insert_with(|| Arc::new(Rbac::snapshot(inner, self.rbac)))
                .clone();
            for param in params {
                let failures = self.evaluate(req, policy, param, namespace, rbac.clone(), notes);
                for failure in failures {
                    self.act(req, policy, binding, failure, notes)?;
                }
            }
        }
        Ok(())
    }

    /// The parameter objects a binding supplies (`[Null]` when the policy takes none).
    fn params(
        &self,
        inner: &Inner,
        policy: &Value,
        binding: &Value,
        req: &Request,
    ) -> Result<Vec<Value>, String> {
        let kind = &policy["spec"]["paramKind"];
        if !kind.is_object() {
            return Ok(vec![Value::Null]);
        }
        let group = kind["apiVersion"]
            .as_str()
            .unwrap_or_default()
            .rsplit_once('/')
            .map(|(g, _)| g)
            .unwrap_or_default();
        let pref = &binding["spec"]["paramRef"];
        let res = self.resource_for_kind(group, kind["kind"].as_str().unwrap_or_default());
        let found: Vec<Value> = match res {
            Some(res) => {
                let ns = pref["namespace"]
                    .as_str()
                    .filter(|n| !n.is_empty())
                    .unwrap_or(if res.namespaced { req.namespace } else { "" });
                let ns = if res.namespaced { ns } else { "" };
                match pref["name"].as_str() {
                    Some(name) => inner
                        .get(&ObjKey::new(&res.storage_group, &res.plural, ns, name))
                        .cloned()
                        .into_iter()
                        .collect(),
                    None => {
                        let sel = LabelSelector::from_object(&pref["selector"]);
                        inner
                            .list(
                                &res.storage_group,
                                &res.plural,
                                res.namespaced.then_some(ns),
                            )
                            .map(|(_, v)| v)
                            .filter(|v| sel.matches(v))
                            .cloned()
                            .collect()
                    }
                }
            }
            None => Vec::new(),
        };
        if found.is_empty() {
            if pref["parameterNotFoundAction"] == "Allow" {
                return Ok(Vec::new());
            }
            return Err(
                "no params found for policy binding with `Deny` parameterNotFoundAction".into(),
            );
        }
        Ok(found)
    }

    /// Evaluates one policy for one parameter; every failing check is returned.
    fn evaluate(
        &self,
        req: &Request,
        policy: &Value,
        params: Value,
        namespace: Option<&Value>,
        rbac: Arc<Rbac>,
        notes: &Notes,
    ) -> Vec<Failure> {
        let spec = &policy["spec"];
        let ignore = spec["failurePolicy"] == "Ignore";
        let request_attrs = Attributes {
            user: req.user.clone(),
            verb: match req.operation {
                "CREATE" => "create",
                "DELETE" => "delete",
                _ => "update",
            }
            .into(),
            namespace: req.namespace.into(),
            group: req.res.group.clone(),
            version: req.res.preferred_version().into(),
            resource: req.res.plural.clone(),
            subresource: req.subresource.into(),
            name: req.name.into(),
            path: None,
        };
        let mut activation = Activation {
            vars: vec![
                ("object".into(), to_cel(req.object.unwrap_or(&Value::Null))),
                ("oldObject".into(), to_cel(req.old.unwrap_or(&Value::Null))),
                ("request".into(), to_cel(&request_value(req))),
                ("params".into(), to_cel(&params)),
                (
                    "namespaceObject".into(),
                    to_cel(namespace.unwrap_or(&Value::Null)),
                ),
            ],
            authorizer: Some(Authorizer {
                rbac,
                user: req.user.clone(),
                request: request_attrs,
            }),
        };
        let error = |expr: &str, e: String| Failure {
            message: format!("expression '{expr}' resulted in error: {e}"),
            reason: String::new(),
        };
        for cond in spec["matchConditions"].as_array().into_iter().flatten() {
            let expr = cond["expression"].as_str().unwrap_or_default();
            match self.cel.eval(expr, &activation) {
                Ok(cel::Value::Bool(true)) => {}
                Ok(cel::Value::Bool(false)) => return Vec::new(),
                Ok(other) => {
                    return if ignore {
                        Vec::new()
                    } else {
                        vec![error(expr, format!("expected bool, got {other:?}"))]
                    };
                }
                Err(e) => {
                    return if ignore {
                        Vec::new()
                    } else {
                        vec![error(expr, e)]
                    };
                }
            }
        }
        // Each variable sees the ones before it; one that fails is left out, so using it fails.
        let mut var_map = std::collections::HashMap::new();
        for var in spec["variables"].as_array().into_iter().flatten() {
            activation.vars.retain(|(k, _)| k != "variables");
            activation.vars.push((
                "variables".into(),
                cel::Value::Map(cel::objects::Map {
                    map: Arc::new(var_map.clone()),
                }),
            ));
            let (name, expr) = (
                var["name"].as_str().unwrap_or_default(),
                var["expression"].as_str().unwrap_or_default(),
            );
            if let Ok(v) = self.cel.eval(expr, &activation) {
                var_map.insert(cel::objects::Key::String(Arc::new(name.to_string())), v);
            }
        }
        activation.vars.retain(|(k, _)| k != "variables");
        activation.vars.push((
            "variables".into(),
            cel::Value::Map(cel::objects::Map {
                map: Arc::new(var_map),
            }),
        ));
        let mut failures = Vec::new();
        for v in spec["validations"].as_array().into_iter().flatten() {
            let expr = v["expression"].as_str().unwrap_or_default();
            let reason = v["reason"].as_str().unwrap_or_default().to_string();
            match self.cel.eval(expr, &activation) {
                Ok(cel::Value::Bool(true)) => {}
                Ok(cel::Value::Bool(false)) => {
                    let from_expr = v["messageExpression"]
                        .as_str()
                        .and_then(|m| self.cel.eval(m, &activation).ok())
                        .and_then(|m| as_string(&m))
                        .filter(|m| !m.trim().is_empty());
                    let message = from_expr
                        .or_else(|| v["message"].as_str().map(|m| m.trim().to_string()))
                        .unwrap_or_else(|| format!("failed expression: {expr}"));
                    failures.push(Failure { message, reason });
                }
                Ok(other) if !ignore => {
                    failures.push(error(expr, format!("expected bool, got {other:?}")))
                }
                Err(e) if !ignore => failures.push(error(expr, e)),
                _ => {}
            }
        }
        for a in spec["auditAnnotations"].as_array().into_iter().flatten() {
            let expr = a["valueExpression"].as_str().unwrap_or_default();
            if let Ok(value) = self.cel.eval(expr, &activation)
                && let Some(value) = as_string(&value)
            {
                let policy_name = policy["metadata"]["name"].as_str().unwrap_or_default();
                notes.audit(
                    format!("{policy_name}/{}", a["key"].as_str().unwrap_or_default()),
                    value,
                );
            }
        }
        failures
    }

    /// Carries out a binding's `validationActions` for one failure.
    fn act(
        &self,
        req: &Request,
        policy: &Value,
        binding: &Value,
        failure: Failure,
        notes: &Notes,
    ) -> ApiResult<()> {
        let (p, b) = (
            policy["metadata"]["name"].as_str().unwrap_or_default(),
            binding["metadata"]["name"].as_str().unwrap_or_default(),
        );
        let actions = strings(&binding["spec"]["validationActions"]);
        if actions.contains(&"Warn") {
            notes.warn(format!(
                "Validation failed for ValidatingAdmissionPolicy '{p}' with binding '{b}': {}",
                failure.message
            ));
        }
        if actions.contains(&"Audit") {
            notes.audit(
                "validation.policy.admission.k8s.io/validation_failure".into(),
                json!([{"message": failure.message, "policy": p, "binding": b, "validationActions": actions}]).to_string(),
            );
        }
        if actions.contains(&"Deny") {
            return Err(denial(req, p, b, &failure.message, &failure.reason));
        }
        Ok(())
    }
}
