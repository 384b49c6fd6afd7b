//! HTTP glue: authentication (static and service-account tokens), impersonation, RBAC
//! authorization, content negotiation (JSON, YAML for apply, protobuf for built-in kinds in;
//! JSON or Table out), `Warning` headers and the request log. Routing is in `route`.

mod request;
mod route;

pub use request::{RequestInfo, parse as parse_request};

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Incoming;
use serde_json::Value;
use tokio::net::TcpListener;

use crate::api::{Cluster, Notes, WriteOptions};
use crate::auth::{AuditRecord, User};
use crate::error::{ApiError, ApiResult};
use crate::rbac::{Attributes, Rbac, forbidden};
use crate::watch;

pub type Body = BoxBody<Bytes, Infallible>;

/// What a handler produces.
pub enum Reply {
    Json(u16, Value),
    Text(String),
    /// A body of the given media type.
    Bytes(&'static str, Vec<u8>),
    Stream(watch::Frames),
}

/// Accepts TLS connections until the task is dropped.
pub async fn serve(listener: TcpListener, tls: tokio_rustls::TlsAcceptor, cluster: Arc<Cluster>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let cluster = cluster.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let Ok(stream) = tls.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req| {
                let cluster = cluster.clone();
                async move { Ok::<_, Infallible>(handle(cluster, req).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

fn json_response(code: u16, value: &Value, warnings: &[String]) -> Response<Body> {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json");
    for w in warnings {
        builder = builder.header("warning", format!("299 - {}", quote(w)));
    }
    builder
        .body(full(serde_json::to_vec(value).unwrap_or_default()))
        .expect("static response parts are valid")
}

/// A quoted-string for the `Warning` header.
fn quote(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!("\"{}\"", clean.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Decodes `a=b&c=d` with percent-decoding.
fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Applies `Impersonate-*` headers: the requester must be allowed to `impersonate` each
/// user, group, uid and extra it claims.
fn impersonate(cluster: &Cluster, user: &User, headers: &HeaderMap) -> ApiResult<Option<User>> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(String::from))
            .collect()
    };
    let Some(name) = values("impersonate-user").into_iter().next() else {
        return Ok(None);
    };
    let groups = values("impersonate-group");
    let uid = values("impersonate-uid").into_iter().next();
    let mut extra: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (k, v) in headers {
        if let Some(key) = k.as_str().strip_prefix("impersonate-extra-") {
            let key = percent_encoding::percent_decode_str(key)
                .decode_utf8_lossy()
                .into_owned();
            extra
                .entry(key)
                .or_default()
                .push(v.to_str().unwrap_or_default().to_string());
        }
    }
    let rbac = Rbac::snapshot(&cluster.store.lock(), cluster.rbac);
    let check = |a: Attributes| {
        let d = rbac.authorize(&a);
        if d.allowed {
            Ok(())
        } else {
            Err(forbidden(&a, &d.reason))
        }
    };
    let mut target = match name
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
    {
        Some((ns, sa)) => {
            check(
                Attributes::resource(user, "impersonate", "", "serviceaccounts")
                    .in_namespace(ns)
                    .named(sa),
            )?;
            User::service_account(ns, sa)
        }
        None => {
            check(Attributes::resource(user, "impersonate", "", "users").named(&name))?;
            User::new(&name, &[])
        }
    };
    if !groups.is_empty() {
        for g in &groups {
            check(Attributes::resource(user, "impersonate", "", "groups").named(g))?;
        }
        target.groups = groups;
        if !target
            .groups
            .iter()
            .any(|g| g == crate::auth::AUTHENTICATED)
        {
            target.groups.push(crate::auth::AUTHENTICATED.into());
        }
    }
    if let Some(uid) = uid {
        check(
            Attributes::resource(user, "impersonate", "authentication.k8s.io", "uids").named(&uid),
        )?;
        target.uid = uid;
    }
    for (key, vals) in &extra {
        for v in vals {
            check(
                Attributes::resource(user, "impersonate", "authentication.k8s.io", "userextras")
                    .subresource(key)
                    .named(v),
            )?;
        }
    }
    target.extra = extra;
    Ok(Some(target))
}

async fn handle(cluster: Arc<Cluster>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    if matches!(path.as_str(), "/healthz" | "/livez" | "/readyz") {
        return Response::new(full("ok"));
    }
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let Some(authenticated) = cluster.authenticate(&header("authorization")) else {
        return json_response(401, &ApiError::unauthorized().to_status(), &[]);
    };
    let method = req.method().clone();
    let query = parse_query(req.uri().query());
    let (accept, content_type) = (header("accept"), header("content-type"));
    let user_agent = header("user-agent");
    let info = request::parse(&method, &path, &query);
    let impersonated = impersonate(&cluster, &authenticated, req.headers());
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return json_response(400, &ApiError::bad_request(e.to_string()).to_status(), &[]);
        }
    };
    let (user, impersonator) = match impersonated {
        Ok(Some(u)) => (u, Some(authenticated.name.clone())),
        Ok(None) => (authenticated, None),
        Err(e) => {
            record(
                &cluster,
                &authenticated,
                None,
                &method,
                &path,
                e.code,
                &Notes::default(),
            );
            return json_response(e.code, &e.to_status(), &[]);
        }
    };
    let notes = Notes::default();
    let reply = if cluster.rbac {
        let attrs = info.attributes(&user);
        let decision = Rbac::snapshot(&cluster.store.lock(), true).authorize(&attrs);
        if decision.allowed {
            notes.authorized(attrs.authorization());
            None
        } else {
            Some(Err(forbidden(&attrs, &decision.reason)))
        }
    } else {
        None
    };
    let reply = reply.unwrap_or_else(|| {
        let ctx = Ctx {
            cluster: &cluster,
            method: &method,
            query: &query,
            accept: &accept,
            content_type: &content_type,
            body: &body,
            user: &user,
            user_agent: &user_agent,
            notes: &notes,
            info: &info,
        };
        route::route(&ctx)
    });
    let code = match &reply {
        Ok(Reply::Json(code, _)) => *code,
        Ok(_) => 200,
        Err(e) => e.code,
    };
    record(&cluster, &user, impersonator, &method, &path, code, &notes);
    let warnings = notes.warnings();
    match reply {
        Ok(Reply::Json(code, v)) => json_response(code, &v, &warnings),
        Ok(Reply::Text(t)) => Response::builder()
            .header("content-type", "text/plain")
            .body(full(t))
            .expect("valid"),
        Ok(Reply::Bytes(media_type, bytes)) => Response::builder()
            .header("content-type", media_type)
            .body(full(bytes))
            .expect("valid"),
        Ok(Reply::Stream(frames)) => Response::builder()
            .header("content-type", "application/json")
            .header("transfer-encoding", "chunked")
            .body(BodyExt::boxed(StreamBody::new(tokio_stream(frames))))
            .expect("valid"),
        Err(e) => json_response(e.code, &e.to_status(), &warnings),
    }
}

fn record(
    cluster: &Cluster,
    user: &User,
    impersonator: Option<String>,
    method: &Method,
    path: &str,
    code: u16,
    notes: &Notes,
) {
    cluster.auth.record(AuditRecord {
        user: user.name.clone(),
        user_info: user.clone(),
        impersonator,
        verb: method.to_string(),
        path: path.to_string(),
        code,
        annotations: notes.annotations(),
        authorized: notes.authorizations(),
    });
}

fn tokio_stream(
    mut rx: watch::Frames,
) -> impl futures::Stream<Item = Result<http_body::Frame<Bytes>, Infallible>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Everything a handler may look at.
pub struct Ctx<'a> {
    pub cluster: &'a Arc<Cluster>,
    pub method: &'a Method,
    pub query: &'a HashMap<String, String>,
    pub accept: &'a str,
    pub content_type: &'a str,
    pub body: &'a Bytes,
    pub user: &'a User,
    pub user_agent: &'a str,
    pub notes: &'a Notes,
    pub info: &'a RequestInfo,
}

impl Ctx<'_> {
    pub fn q(&self, key: &str) -> Option<&str> {
        self.query
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.q(key), Some("true" | "1"))
    }

    /// The body: JSON, YAML (apply), or Kubernetes protobuf for built-in kinds.
    pub fn body_value(&self) -> ApiResult<Value> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        if self.content_type.contains("protobuf") {
            return crate::protobuf::decode(self.body, crate::kinds::registry::protobuf_decoder);
        }
        if self.content_type.contains("cbor") {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {:?})",
                    self.content_type
                ),
            ));
        }
        serde_json::from_slice(self.body).or_else(|json_err| {
            let text =
                std::str::from_utf8(self.body).map_err(|e| ApiError::bad_request(e.to_string()))?;
            serde_saphyr::from_str::<Value>(text).map_err(|_| {
                ApiError::bad_request(format!("error decoding request body: {json_err}"))
            })
        })
    }

    /// `fieldManager`, or the user agent's product name as upstream defaults it.
    fn manager(&self) -> Option<String> {
        self.q("fieldManager").map(String::from).or_else(|| {
            let ua = self.user_agent.split('/').next().unwrap_or_default().trim();
            Some(if ua.is_empty() { "unknown" } else { ua }.to_string())
        })
    }

    pub fn write_options(&self) -> WriteOptions {
        let dry_run = self.q("dryRun") == Some("All");
        WriteOptions {
            dry_run,
            field_manager: if *self.method == Method::PATCH {
                self.q("fieldManager").map(String::from)
            } else {
                self.manager()
            },
            strict: self.q("fieldValidation") == Some("Strict"),
            force: self.flag("force"),
            user: self.user.clone(),
            notes: self.notes.clone(),
        }
    }

    /// Write options for a non-apply PATCH, where the manager defaults like other updates.
    pub fn update_options(&self) -> WriteOptions {
        WriteOptions {
            field_manager: self.manager(),
            ..self.write_options()
        }
    }
}
