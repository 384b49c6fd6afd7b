//! CEL for admission policies and CRD validation rules, on the `cel` crate: a shared
//! environment (standard library, `has()` and the comprehension macros, the strings, lists and
//! math extensions), compiled programs cached by source, JSON to CEL values, and Kubernetes'
//! `authorizer` library backed by RBAC.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cel::extractors::This;
use cel::objects::{Key, Map, Opaque};
use cel::{Context, Env, ExecutionError, Program, Value};

use crate::auth::User;
use crate::rbac::{Attributes, Rbac};

/// The environment plus compiled programs, by source.
pub struct Cache {
    env: Arc<Env>,
    programs: Mutex<HashMap<String, Arc<Program>>>,
}

impl Default for Cache {
    fn default() -> Self {
        let mut env = Env::stdlib();
        for ext in [
            cel::extensions::strings,
            cel::extensions::lists,
            cel::extensions::math,
        ] {
            // Registering a bundled extension on the standard library cannot conflict.
            let _ = env.add_extension(ext);
        }
        Self {
            env: Arc::new(env),
            programs: Mutex::default(),
        }
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("celenv::Cache")
    }
}

/// Variables (and the authorizer) one evaluation sees.
#[derive(Default)]
pub struct Activation {
    pub vars: Vec<(String, Value)>,
    pub authorizer: Option<Authorizer>,
}

impl Cache {
    /// Compiles (or reuses) `source`; the error is the parser's message.
    pub fn compile(&self, source: &str) -> Result<Arc<Program>, String> {
        let mut programs = self.programs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = programs.get(source) {
            return Ok(p.clone());
        }
        let program = Arc::new(self.env.compile(source).map_err(|e| e.to_string())?);
        programs.insert(source.to_string(), program.clone());
        Ok(program)
    }

    /// Compiles and evaluates `source`.
    pub fn eval(&self, source: &str, activation: &Activation) -> Result<Value, String> {
        let program = self.compile(source)?;
        let mut ctx = Context::with_env(self.env.clone());
        for (name, value) in &activation.vars {
            ctx.add_variable_from_value(name.clone(), value.clone());
        }
        if let Some(authz) = &activation.authorizer {
            authz.install(&mut ctx);
        }
        program.execute(&ctx).map_err(|e| e.to_string())
    }
}

/// A JSON value as CEL sees it: integers stay `int`, objects become maps.
pub fn to_cel(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap_or_default()),
        },
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(a) => Value::List(Arc::new(a.iter().map(to_cel).collect())),
        serde_json::Value::Object(o) => {
            let map: HashMap<Key, Value> = o
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                .collect();
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}

/// What a CEL validation produced, when it is a string (messageExpression).
pub fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string()),
        _ => None,
    }
}

/// Kubernetes' `authorizer` library for one request: checks go to RBAC (or allow all when the
/// cluster runs without authorization).
#[derive(Clone)]
pub struct Authorizer {
    pub rbac: Arc<Rbac>,
    pub user: User,
    /// The request's own resource, for `authorizer.requestResource`.
    pub request: Attributes,
}

/// The values the library's calls pass along.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Who(User),
    Path(User, String),
    Group(User, String),
    Resource(Attributes),
    Decision(bool, String),
}

impl Opaque for Node {
    fn runtime_type_name(&self) -> &str {
        match self {
            Node::Who(_) => "kubernetes.authorization.Authorizer",
            Node::Path(..) => "kubernetes.authorization.PathCheck",
            Node::Group(..) => "kubernetes.authorization.GroupCheck",
            Node::Resource(_) => "kubernetes.authorization.ResourceCheck",
            Node::Decision(..) => "kubernetes.authorization.Decision",
        }
    }
}

fn node(v: &Value) -> Option<Node> {
    match v {
        Value::Opaque(o) => o.downcast_ref::<Node>().cloned(),
        Value::Map(m) => match m.map.get(&Key::String(Arc::new("__authorizer".into()))) {
            Some(inner) => node(inner),
            None => None,
        },
        _ => None,
    }
}

fn wrap(n: Node) -> Value {
    Value::Opaque(Arc::new(n))
}

fn misuse(function: &str) -> ExecutionError {
    ExecutionError::function_error(function, "not called on an authorizer value")
}

impl Authorizer {
    /// The `authorizer` variable: a map carrying the user, plus `requestResource`.
    fn value(user: &User, request: &Attributes) -> Value {
        let mut req = request.clone();
        req.user = user.clone();
        let map: HashMap<Key, Value> = [
            (
                Key::String(Arc::new("__authorizer".into())),
                wrap(Node::Who(user.clone())),
            ),
            (
                Key::String(Arc::new("requestResource".into())),
                wrap(Node::Resource(req)),
            ),
        ]
        .into_iter()
        .collect();
        Value::Map(Map { map: Arc::new(map) })
    }

    fn install(&self, ctx: &mut Context) {
        ctx.add_variable_from_value("authorizer", Self::value(&self.user, &self.request));
        let request = self.request.clone();
        let _ = ctx.add_function(
            "serviceAccount",
            move |This(this): This<Value>, ns: Arc<String>, name: Arc<String>| match node(&this) {
                Some(Node::Who(_)) => Ok(Authorizer::value(
                    &User::service_account(&ns, &name),
                    &request,
                )),
                _ => Err(misuse("serviceAccount")),
            },
        );
        let _ = ctx.add_function(
            "path",
            |This(this): This<Value>, p: Arc<String>| match node(&this) {
                Some(Node::Who(u)) => Ok(wrap(Node::Path(u, p.to_string()))),
                _ => Err(misuse("path")),
            },
        );
        let _ = ctx.add_function(
            "group",
            |This(this): This<Value>, g: Arc<String>| match node(&this) {
                Some(Node::Who(u)) => Ok(wrap(Node::Group(u, g.to_string()))),
                _ => Err(misuse("group")),
            },
        );
        let _ = ctx.add_function(
            "resource",
            |This(this): This<Value>, r: Arc<String>| match node(&this) {
                Some(Node::Group(u, g)) => {
                    Ok(wrap(Node::Resource(Attributes::resource(&u, "", &g, &r))))
                }
                _ => Err(misuse("resource")),
            },
        );
        for field in ["subresource", "namespace", "name"] {
            let _ =
                ctx.add_function(
                    field,
                    move |This(this): This<Value>, v: Arc<String>| match node(&this) {
                        Some(Node::Resource(mut a)) => {
                            match field {
                                "subresource" => a.subresource = v.to_string(),
                                "namespace" => a.namespace = v.to_string(),
                                _ => a.name = v.to_string(),
                            }
                            Ok(wrap(Node::Resource(a)))
                        }
                        _ => Err(misuse(field)),
                    },
                );
        }
        let rbac = self.rbac.clone();
        let _ = ctx.add_function(
            "check",
            move |This(this): This<Value>, verb: Arc<String>| {
                let attrs = match node(&this) {
                    Some(Node::Resource(mut a)) => {
                        a.verb = verb.to_string();
                        a.path = None;
                        a
                    }
                    Some(Node::Path(u, p)) => Attributes {
                        user: u,
                        verb: verb.to_string(),
                        path: Some(p),
                        ..Default::default()
                    },
                    _ => return Err(misuse("check")),
                };
                let d = rbac.authorize(&attrs);
                Ok(wrap(Node::Decision(d.allowed, d.reason)))
            },
        );
        let decision = |f: &'static str| {
            move |This(this): This<Value>| match node(&this) {
                Some(Node::Decision(allowed, reason)) => Ok(match f {
                    "allowed" => Value::Bool(allowed),
                    "reason" => Value::String(Arc::new(reason)),
                    "errored" => Value::Bool(false),
                    _ => Value::String(Arc::new(String::new())),
                }),
                _ => Err(misuse(f)),
            }
        };
        for f in ["allowed", "reason", "errored", "error"] {
            let _ = ctx.add_function(f, decision(f));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(src: &str, vars: &[(&str, serde_json::Value)]) -> Result<Value, String> {
        let cache = Cache::default();
        let activation = Activation {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), to_cel(v)))
                .collect(),
            authorizer: None,
        };
        cache.eval(src, &activation)
    }

    #[test]
    fn macros_strings_and_has() {
        let obj = json!({"metadata": {"annotations": {"approve.sluice.dev/a": "alice@sha256:1", "x": "y"}}});
        let src = "has(object.metadata.annotations) && object.metadata.annotations.filter(k, k.startsWith('approve.sluice.dev/')).all(k, object.metadata.annotations[k].split('@')[0] == 'alice')";
        assert_eq!(eval(src, &[("object", obj.clone())]), Ok(Value::Bool(true)));
        assert_eq!(
            eval(
                "object.metadata.annotations.map(k, k.lowerAscii()).exists(k, k == 'x')",
                &[("object", obj)]
            ),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            eval("has(object.spec)", &[("object", json!({}))]),
            Ok(Value::Bool(false))
        );
        assert_eq!(
            eval("self.size > 1", &[("self", json!({"size": 2}))]),
            Ok(Value::Bool(true))
        );
    }

    #[test]
    fn authorizer_checks_rbac() {
        let cache = Cache::default();
        let rbac = Rbac::default(); // authorization disabled: everything allowed
        let alice = User::new("alice", &[]);
        let activation = Activation {
            vars: vec![],
            authorizer: Some(Authorizer {
                rbac: Arc::new(rbac),
                user: alice.clone(),
                request: Attributes::resource(&alice, "update", "sluice.dev", "promotions"),
            }),
        };
        let src = "authorizer.group('sluice.dev').resource('promotions').namespace('ns').name('p').check('approve').allowed()";
        assert_eq!(cache.eval(src, &activation), Ok(Value::Bool(true)));
        assert_eq!(
            cache.eval("authorizer.requestResource.check('get').allowed() && authorizer.serviceAccount('ns', 'sa').path('/healthz').check('get').allowed()", &activation),
            Ok(Value::Bool(true))
        );
    }
}
