//! Routing of Kubernetes API paths: discovery and the OpenAPI documents, collections (list,
//! watch, create, deletecollection), items (get, update, patch, delete) and subresources
//! (`status`, `scale`, `log`, `token`), plus the create-only review kinds.

use std::time::Duration;

use http::Method;
use serde_json::{Value, json};

use super::{Ctx, Reply};
use crate::api::{DeleteOptions, ListOptions, Part};
use crate::discovery;
use crate::error::{ApiError, ApiResult};
use crate::openapi;
use crate::patch::PatchType;
use crate::resources::ResourceInfo;
use crate::selectors::{FieldSelector, LabelSelector, Selectors};
use crate::table;
use crate::watch::{self, WatchRequest};

fn not_found() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

pub fn route(ctx: &Ctx) -> ApiResult<Reply> {
    if ctx.info.resource_request {
        return resource_request(ctx);
    }
    let segs: Vec<&str> = ctx
        .info
        .path
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
        ["openapi", "v2"] if ctx.accept.contains("protobuf") => Ok(Reply::Bytes(
            openapi::v2::PROTOBUF,
            openapi::v2::protobuf(&registry()),
        )),
        ["openapi", "v2"] => ok(openapi::v2::document(&registry())),
        ["openapi", "v3"] => ok(openapi::v3::index(&registry())),
        ["openapi", "v3", "api", v] => {
            openapi::v3::group_version(&registry(), "", v).map_or_else(|| Err(not_found()), ok)
        }
        ["openapi", "v3", "apis", g, v] => {
            openapi::v3::group_version(&registry(), g, v).map_or_else(|| Err(not_found()), ok)
        }
        _ => Err(not_found()),
    }
}

/// A resolved resource URL.
struct Target {
    res: ResourceInfo,
    version: String,
    namespace: Option<String>,
    name: Option<String>,
}

fn resource_request(ctx: &Ctx) -> ApiResult<Reply> {
    let info = ctx.info;
    let res = ctx
        .cluster
        .resource(&info.group, &info.version, &info.resource)?;
    if info.extra > 0 {
        return Err(not_found());
    }
    let target = Target {
        namespace: (res.namespaced && info.namespaced_path).then(|| info.namespace.clone()),
        name: Some(info.name.clone()).filter(|n| !n.is_empty()),
        res,
        version: info.version.clone(),
    };
    if let Some(kind) = target.res.builtin.filter(|_| target.res.review) {
        return match (ctx.method.clone(), &target.name) {
            (Method::POST, None) => {
                let body = ctx.body_value()?;
                let ns = target.namespace.as_deref().unwrap_or_default();
                kind.review(ctx.cluster.as_ref(), ns, ctx.user, body)
                    .map(|v| Reply::Json(201, v))
            }
            _ => Err(ApiError::method_not_allowed()),
        };
    }
    match (&target.name, info.subresource.as_str()) {
        (None, _) => collection(ctx, &target),
        (Some(_), "") => item(ctx, &target, Part::Main),
        (Some(_), "status") if target.res.status => item(ctx, &target, Part::Status),
        (Some(name), "scale") if target.res.scale => {
            let ns = target.namespace.as_deref().unwrap_or_default();
            let body = match ctx.method.clone() {
                Method::GET => None,
                Method::PUT => Some((None, ctx.body_value()?)),
                Method::PATCH => Some((
                    Some(PatchType::from_content_type(ctx.content_type)?),
                    ctx.body_value()?,
                )),
                _ => return Err(ApiError::method_not_allowed()),
            };
            ctx.cluster
                .scale(&target.res, ns, name, body, &ctx.update_options())
                .map(|v| Reply::Json(200, v))
        }
        (Some(name), "log") if target.res.log && ctx.method == Method::GET => {
            let ns = target.namespace.as_deref().unwrap_or("default");
            let pod = ctx.cluster.get(&target.res, ns, name)?;
            crate::kubelet::logs::read(ctx.cluster, &pod, ctx.query).map(|r| match r {
                crate::kubelet::logs::LogReply::Text(t) => Reply::Text(t),
                crate::kubelet::logs::LogReply::Follow(f) => Reply::Stream(f),
            })
        }
        (Some(name), "token") if target.res.token && ctx.method == Method::POST => {
            let ns = target.namespace.as_deref().unwrap_or_default();
            let cluster = ctx.cluster;
            crate::serviceaccounts::request_token(
                &cluster.store,
                &cluster.tokens,
                ns,
                name,
                ctx.body_value()?,
            )
            .map(|v| Reply::Json(201, v))
        }
        _ => Err(not_found()),
    }
}

/// Sets the apiVersion the client asked for (custom resources may serve several).
fn present(t: &Target, mut obj: Value) -> Value {
    if obj.is_object() && obj["kind"] == t.res.kind {
        obj["apiVersion"] = json!(t.res.api_version(&t.version));
    }
    obj
}

fn selectors(ctx: &Ctx) -> ApiResult<Selectors> {
    Ok(Selectors {
        labels: LabelSelector::parse(ctx.q("labelSelector").unwrap_or_default())?,
        fields: FieldSelector::parse(ctx.q("fieldSelector").unwrap_or_default())?,
    })
}

fn list_options(ctx: &Ctx) -> ApiResult<ListOptions> {
    Ok(ListOptions {
        selectors: selectors(ctx)?,
        limit: ctx
            .q("limit")
            .and_then(|l| l.parse().ok())
            .filter(|l| *l > 0),
        continue_token: ctx.q("continue").map(String::from),
        exact_rv: match (ctx.q("resourceVersion"), ctx.q("resourceVersionMatch")) {
            (Some(rv), Some("Exact")) => {
                Some(rv.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version {rv:?}"))
                })?)
            }
            _ => None,
        },
    })
}

fn table_include<'a>(ctx: &'a Ctx) -> &'a str {
    ctx.q("includeObject").unwrap_or("Metadata")
}

fn collection(ctx: &Ctx, t: &Target) -> ApiResult<Reply> {
    let ns = t.namespace.as_deref();
    if *ctx.method == Method::GET && ctx.flag("watch") {
        let req = WatchRequest {
            res: t.res.clone(),
            version: t.version.clone(),
            namespace: ns.map(String::from),
            selectors: selectors(ctx)?,
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
            table: table::wants_table(ctx.accept).then(|| table_include(ctx).to_string()),
        };
        return Ok(Reply::Stream(watch::start(ctx.cluster, req)));
    }
    let list_of = |items: Vec<Value>, metadata: Value| json!({"kind": format!("{}List", t.res.kind), "apiVersion": t.res.api_version(&t.version), "metadata": metadata, "items": items});
    match ctx.method.clone() {
        Method::GET => {
            let page = ctx.cluster.list_page(&t.res, ns, &list_options(ctx)?)?;
            let items: Vec<Value> = page.items.into_iter().map(|o| present(t, o)).collect();
            if table::wants_table(ctx.accept) {
                let mut table = table::table(
                    &t.res.columns(&t.version),
                    &items,
                    &page.rv.to_string(),
                    table_include(ctx),
                    true,
                );
                if let Some(c) = &page.continue_token {
                    table["metadata"]["continue"] = json!(c);
                }
                return Ok(Reply::Json(200, table));
            }
            let mut metadata = json!({"resourceVersion": page.rv.to_string()});
            if let Some(c) = page.continue_token {
                metadata["continue"] = json!(c);
                metadata["remainingItemCount"] = json!(page.remaining);
            }
            Ok(Reply::Json(200, list_of(items, metadata)))
        }
        Method::POST => {
            let ns = ns.unwrap_or_default();
            let created =
                ctx.cluster
                    .create(&t.res, ns, ctx.body_value()?, &ctx.write_options())?;
            Ok(Reply::Json(201, present(t, created)))
        }
        Method::DELETE => {
            let opts = delete_options(ctx)?;
            let deleted = ctx
                .cluster
                .delete_collection(&t.res, ns, &selectors(ctx)?, &opts)?;
            let items = deleted.into_iter().map(|o| present(t, o)).collect();
            Ok(Reply::Json(200, list_of(items, json!({}))))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn delete_options(ctx: &Ctx) -> ApiResult<DeleteOptions> {
    let body = ctx.body_value()?;
    let write = ctx.write_options();
    Ok(DeleteOptions {
        propagation: body["propagationPolicy"]
            .as_str()
            .or(ctx.q("propagationPolicy"))
            .map(String::from)
            .or_else(|| {
                (body["orphanDependents"] == true || ctx.q("orphanDependents") == Some("true"))
                    .then(|| "Orphan".to_string())
            }),
        uid: body["preconditions"]["uid"].as_str().map(String::from),
        resource_version: body["preconditions"]["resourceVersion"]
            .as_str()
            .map(String::from),
        dry_run: write.dry_run
            || body["dryRun"]
                .as_array()
                .is_some_and(|d| d.iter().any(|x| x == "All")),
        user: write.user,
        notes: write.notes,
    })
}

/// An apply configuration must name the kind and version of the URL (upstream's version check).
fn check_apply_type(t: &Target, body: &Value) -> ApiResult<()> {
    let api_version = body["apiVersion"].as_str().unwrap_or_default();
    let kind = body["kind"].as_str().unwrap_or_default();
    if api_version == t.res.api_version(&t.version) && kind == t.res.kind {
        return Ok(());
    }
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    Err(ApiError::bad_request(format!(
        "invalid object type: {group}/{version}, Kind={kind}"
    )))
}

fn item(ctx: &Ctx, t: &Target, part: Part) -> ApiResult<Reply> {
    let ns = t.namespace.as_deref().unwrap_or_default();
    let name = t.name.as_deref().unwrap_or_default();
    let obj = match ctx.method.clone() {
        Method::GET => ctx.cluster.get(&t.res, ns, name)?,
        Method::PUT => ctx.cluster.update(
            &t.res,
            ns,
            name,
            ctx.body_value()?,
            part,
            &ctx.write_options(),
        )?,
        Method::PATCH => {
            let kind = PatchType::from_content_type(ctx.content_type)?;
            let opts = if kind == PatchType::Apply {
                ctx.write_options()
            } else {
                ctx.update_options()
            };
            let body = ctx.body_value()?;
            if kind == PatchType::Apply {
                check_apply_type(t, &body)?;
            }
            // An apply that creates the object answers 201, like the real server.
            let created = kind == PatchType::Apply && ctx.cluster.get(&t.res, ns, name).is_err();
            let obj = ctx
                .cluster
                .patch(&t.res, ns, name, kind, body, part, &opts)?;
            return Ok(Reply::Json(
                if created { 201 } else { 200 },
                present(t, obj),
            ));
        }
        Method::DELETE => {
            let deleted = ctx
                .cluster
                .delete(&t.res, ns, name, &delete_options(ctx)?)?;
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
                &t.res.columns(&t.version),
                &[present(t, obj)],
                &rv,
                table_include(ctx),
                true,
            ),
        ));
    }
    Ok(Reply::Json(200, present(t, obj)))
}
