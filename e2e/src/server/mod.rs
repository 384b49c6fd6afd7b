//! HTTP glue: authentication, routing of Kubernetes API paths to the object operations in
//! `api`, content negotiation (JSON in, JSON or Table out, YAML for apply) and the request log.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Incoming;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::api::{Cluster, DeleteOptions, Part, WriteOptions};
use crate::auth::{AuditRecord, User};
use crate::discovery;
use crate::error::{ApiError, ApiResult};
use crate::patch::PatchType;
use crate::resources::ResourceInfo;
use crate::selectors::{FieldSelector, LabelSelector, Selectors};
use crate::table;
use crate::watch::{self, WatchRequest};

pub type Body = BoxBody<Bytes, Infallible>;

/// What a handler produces.
enum Reply {
    Json(u16, Value),
    Text(String),
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

fn json_response(code: u16, value: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .body(full(serde_json::to_vec(value).unwrap_or_default()))
        .expect("static response parts are valid")
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
    let Some(user) = cluster.auth.authenticate(Some(&header("authorization"))) else {
        return json_response(401, &ApiError::unauthorized().to_status());
    };
    let method = req.method().clone();
    let query = parse_query(req.uri().query());
    let (accept, content_type) = (header("accept"), header("content-type"));
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return json_response(400, &ApiError::bad_request(e.to_string()).to_status()),
    };
    let ctx = Ctx {
        cluster: &cluster,
        method: &method,
        query: &query,
        accept: &accept,
        content_type: &content_type,
        body: &body,
        user: &user,
    };
    let reply = route(&ctx, &path);
    let code = match &reply {
        Ok(Reply::Json(code, _)) => *code,
        Ok(_) => 200,
        Err(e) => e.code,
    };
    cluster.auth.record(AuditRecord {
        user: user.name.clone(),
        verb: method.to_string(),
        path,
        code,
    });
    match reply {
        Ok(Reply::Json(code, v)) => json_response(code, &v),
        Ok(Reply::Text(t)) => Response::builder()
            .header("content-type", "text/plain")
            .body(full(t))
            .expect("valid"),
        Ok(Reply::Stream(frames)) => Response::builder()
            .header("content-type", "application/json")
            .header("transfer-encoding", "chunked")
            .body(BodyExt::boxed(StreamBody::new(tokio_stream(frames))))
            .expect("valid"),
        Err(e) => json_response(e.code, &e.to_status()),
    }
}

fn tokio_stream(
    mut rx: watch::Frames,
) -> impl futures::Stream<Item = Result<http_body::Frame<Bytes>, Infallible>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Everything a handler may look at.
struct Ctx<'a> {
    cluster: &'a Arc<Cluster>,
    method: &'a Method,
    query: &'a HashMap<String, String>,
    accept: &'a str,
    content_type: &'a str,
    body: &'a Bytes,
    #[allow(dead_code)] // Kept for admission logic that acts on the requesting user.
    user: &'a User,
}

impl Ctx<'_> {
    fn q(&self, key: &str) -> Option<&str> {
        self.query
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.q(key), Some("true" | "1"))
    }

    /// JSON body, or YAML for apply patches.
    fn body_value(&self) -> ApiResult<Value> {
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        if self.content_type.contains("protobuf") || self.content_type.contains("cbor") {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {:?})",
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

    fn write_options(&self) -> WriteOptions {
        WriteOptions {
            dry_run: self.q("dryRun") == Some("All"),
            field_manager: self.q("fieldManager").map(String::from),
            strict: self.q("fieldValidation") == Some("Strict"),
            force: self.flag("force"),
        }
    }

    fn selectors(&self) -> ApiResult<Selectors> {
        Ok(Selectors {
            labels: LabelSelector::parse(self.q("labelSelector").unwrap_or_default())?,
            fields: FieldSelector::parse(self.q("fieldSelector").unwrap_or_default())?,
        })
    }
}

/// A resolved resource URL.
struct Target {
    res: ResourceInfo,
    version: String,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

fn route(ctx: &Ctx, path: &str) -> ApiResult<Reply> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let registry = || {
        ctx.cluster
            .registry
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    };
    let ok = |v: Value| Ok(Reply::Json(200, v));
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    match segs.as_slice() {
        ["version"] => ok(discovery::version()),
        ["api"] => ok(discovery::core_versions("127.0.0.1")),
        ["apis"] => ok(discovery::group_list(&registry())),
        ["api", v] => {
            discovery::resource_list(&registry(), "", v).map_or_else(|| Err(not_found()), ok)
        }
        ["apis", g] => discovery::group(&registry(), g).map_or_else(|| Err(not_found()), ok),
        ["apis", g, v] => {
            discovery::resource_list(&registry(), g, v).map_or_else(|| Err(not_found()), ok)
        }
        ["openapi", "v3"] => ok(discovery::openapi_index(&registry())),
        ["openapi", "v3", "api", v] => discovery::openapi_group_version(&registry(), "", v)
            .map_or_else(|| Err(not_found()), ok),
        ["openapi", "v3", "apis", g, v] => {
            discovery::openapi_group_version(&registry(), g, v).map_or_else(|| Err(not_found()), ok)
        }
        ["api", v, rest @ ..] => resource_request(ctx, "", v, rest),
        ["apis", g, v, rest @ ..] => resource_request(ctx, g, v, rest),
        _ => Err(not_found()),
    }
}

fn resource_request(ctx: &Ctx, group: &str, version: &str, rest: &[&str]) -> ApiResult<Reply> {
    let namespaced_path =
        rest.len() >= 3 && rest[0] == "namespaces" && !matches!(rest[2], "status" | "finalize");
    let (namespace, rest) = if namespaced_path {
        (Some(rest[1].to_string()), &rest[2..])
    } else {
        (None, rest)
    };
    let res = ctx.cluster.resource(group, version, rest[0])?;
    let target = Target {
        res,
        version: version.to_string(),
        namespace,
        name: rest.get(1).map(|s| s.to_string()),
        sub: rest.get(2).map(|s| s.to_string()),
    };
    if rest.len() > 3 {
        return Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ));
    }
    match (&target.name, target.sub.as_deref()) {
        (None, _) => collection(ctx, &target),
        (Some(_), None) => item(ctx, &target, Part::Main),
        (Some(_), Some("status")) if target.res.status => item(ctx, &target, Part::Status),
        (Some(name), Some("log")) if target.res.log && ctx.method == Method::GET => {
            let ns = target.namespace.as_deref().unwrap_or("default");
            let pod = ctx.cluster.get(&target.res, ns, name)?;
            crate::kubelet::logs::read(ctx.cluster, &pod, ctx.query).map(|r| match r {
                crate::kubelet::logs::LogReply::Text(t) => Reply::Text(t),
                crate::kubelet::logs::LogReply::Follow(f) => Reply::Stream(f),
            })
        }
        _ => Err(ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )),
    }
}

/// Sets the apiVersion the client asked for (custom resources may serve several).
fn present(t: &Target, mut obj: Value) -> Value {
    if obj.is_object() && obj["kind"] == t.res.kind {
        obj["apiVersion"] = json!(t.res.api_version(&t.version));
    }
    obj
}

fn collection(ctx: &Ctx, t: &Target) -> ApiResult<Reply> {
    let ns = t.namespace.as_deref();
    if *ctx.method == Method::GET && ctx.flag("watch") {
        let req = WatchRequest {
            res: t.res.clone(),
            version: t.version.clone(),
            namespace: ns.map(String::from),
            selectors: ctx.selectors()?,
            resource_version: match ctx.q("resourceVersion") {
                Some(rv) => Some(rv.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version {rv:?}"))
                })?),
                None => None,
            },
            send_initial_events: ctx.flag("sendInitialEvents"),
            bookmarks: ctx.flag("allowWatchBookmarks"),
            timeout: Duration::from_secs(
                ctx.q("timeoutSeconds")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(1800),
            ),
            table: table::wants_table(ctx.accept)
                .then(|| ctx.q("includeObject").unwrap_or("Metadata").to_string()),
        };
        return Ok(Reply::Stream(watch::start(ctx.cluster, req)));
    }
    match ctx.method.clone() {
        Method::GET => {
            let (items, rv) = ctx.cluster.list(&t.res, ns, &ctx.selectors()?);
            let items: Vec<Value> = items.into_iter().map(|o| present(t, o)).collect();
            if table::wants_table(ctx.accept) {
                return Ok(Reply::Json(
                    200,
                    table::table(
                        &t.res,
                        &t.version,
                        &items,
                        &rv.to_string(),
                        ctx.q("includeObject").unwrap_or("Metadata"),
                        true,
                    ),
                ));
            }
            let list = json!({"kind": format!("{}List", t.res.kind), "apiVersion": t.res.api_version(&t.version), "metadata": {"resourceVersion": rv.to_string()}, "items": items});
            Ok(Reply::Json(200, list))
        }
        Method::POST => {
            let ns = ns.unwrap_or_default();
            let created =
                ctx.cluster
                    .create(&t.res, ns, ctx.body_value()?, &ctx.write_options())?;
            Ok(Reply::Json(201, present(t, created)))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn item(ctx: &Ctx, t: &Target, part: Part) -> ApiResult<Reply> {
    let ns = t.namespace.as_deref().unwrap_or_default();
    let name = t.name.as_deref().unwrap_or_default();
    let opts = ctx.write_options();
    let obj = match ctx.method.clone() {
        Method::GET => ctx.cluster.get(&t.res, ns, name)?,
        Method::PUT => ctx
            .cluster
            .update(&t.res, ns, name, ctx.body_value()?, part, &opts)?,
        Method::PATCH => {
            let kind = PatchType::from_content_type(ctx.content_type)?;
            // An apply that creates the object answers 201, like the real server.
            let created = kind == PatchType::Apply && ctx.cluster.get(&t.res, ns, name).is_err();
            let obj = ctx
                .cluster
                .patch(&t.res, ns, name, kind, ctx.body_value()?, part, &opts)?;
            return Ok(Reply::Json(
                if created { 201 } else { 200 },
                present(t, obj),
            ));
        }
        Method::DELETE => {
            let body = ctx.body_value()?;
            let opts = DeleteOptions {
                propagation: body["propagationPolicy"]
                    .as_str()
                    .or(ctx.q("propagationPolicy"))
                    .map(String::from)
                    .or_else(|| {
                        (body["orphanDependents"] == true
                            || ctx.q("orphanDependents") == Some("true"))
                        .then(|| "Orphan".to_string())
                    }),
                uid: body["preconditions"]["uid"].as_str().map(String::from),
                resource_version: body["preconditions"]["resourceVersion"]
                    .as_str()
                    .map(String::from),
                dry_run: opts.dry_run
                    || body["dryRun"]
                        .as_array()
                        .is_some_and(|d| d.iter().any(|x| x == "All")),
            };
            let deleted = ctx.cluster.delete(&t.res, ns, name, &opts)?;
            return Ok(Reply::Json(
                if deleted.gone { 200 } else { 202 },
                present(t, deleted.object),
            ));
        }
        _ => return Err(ApiError::method_not_allowed()),
    };
    if table::wants_table(ctx.accept) && *ctx.method == Method::GET {
        let rv = obj["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        return Ok(Reply::Json(
            200,
            table::table(
                &t.res,
                &t.version,
                &[present(t, obj)],
                &rv,
                ctx.q("includeObject").unwrap_or("Metadata"),
                true,
            ),
        ));
    }
    Ok(Reply::Json(200, present(t, obj)))
}
