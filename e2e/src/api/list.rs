//! Lists in pages (`limit` / `continue`, each page a consistent snapshot at the first page's
//! resourceVersion, as etcd serves them) and `deletecollection`.

use base64::Engine;
use serde_json::{Value, json};

use super::{Cluster, DeleteOptions};
use crate::error::{ApiError, ApiResult};
use crate::resources::ResourceInfo;
use crate::selectors::Selectors;

/// A list request's options.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub selectors: Selectors,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    /// `resourceVersionMatch=Exact`: list the state at that version.
    pub exact_rv: Option<u64>,
}

/// One page of a list.
pub struct ListPage {
    pub items: Vec<Value>,
    pub rv: u64,
    pub continue_token: Option<String>,
    pub remaining: usize,
}

fn encode_continue(rv: u64, start: &str) -> String {
    base64::engine::general_purpose::URL_SAFE
        .encode(json!({"v": "meta.k8s.io/v1", "rv": rv, "start": start}).to_string())
}

fn decode_continue(token: &str) -> ApiResult<(u64, String)> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token:?}"));
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    Ok((
        v["rv"].as_u64().ok_or_else(bad)?,
        v["start"].as_str().ok_or_else(bad)?.to_string(),
    ))
}

const EXPIRED_CONTINUE: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

impl Cluster {
    /// A page of matching objects, as served.
    pub fn list_page(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> ApiResult<ListPage> {
        let inner = self.store.lock();
        let ns = ns.filter(|_| res.namespaced);
        let (rv, start) = match &opts.continue_token {
            Some(token) => {
                let (rv, start) = decode_continue(token)?;
                (rv, Some(start))
            }
            None => (opts.exact_rv.unwrap_or(inner.rv()), None),
        };
        let objects = inner
            .snapshot_at(rv, &res.storage_group, &res.plural, ns)
            .ok_or_else(|| match &opts.continue_token {
                Some(_) => ApiError::new(410, "Expired", EXPIRED_CONTINUE),
                None => ApiError::gone(format!("too old resource version: {rv} ({})", inner.rv())),
            })?;
        drop(inner);
        // Pages continue after the last (namespace, name) returned, the store's order.
        let position = |o: &Value| {
            (
                o["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        };
        let start = start.map(|s| {
            let (ns, name) = s.split_once('/').unwrap_or(("", &s));
            (ns.to_string(), name.to_string())
        });
        let matching: Vec<Value> = objects
            .values()
            .map(|v| crate::convert::to_served(res, v))
            .filter(|v| opts.selectors.matches(v))
            .filter(|v| start.as_ref().is_none_or(|s| position(v) > *s))
            .collect();
        let total = matching.len();
        let limit = opts.limit.unwrap_or(usize::MAX);
        let items: Vec<Value> = matching.into_iter().take(limit).collect();
        let continue_token = (total > items.len())
            .then(|| {
                items.last().map(|last| {
                    let (ns, name) = position(last);
                    encode_continue(rv, &format!("{ns}/{name}"))
                })
            })
            .flatten();
        Ok(ListPage {
            remaining: total - items.len(),
            items,
            rv,
            continue_token,
        })
    }

    /// DELETE on a collection: deletes every matching object, returning them.
    pub fn delete_collection(
        &self,
        res: &ResourceInfo,
        ns: Option<&str>,
        selectors: &Selectors,
        opts: &DeleteOptions,
    ) -> ApiResult<Vec<Value>> {
        let (items, _) = self.list(res, ns, selectors);
        let mut deleted = Vec::new();
        for obj in items {
            let (ns, name) = (
                obj["metadata"]["namespace"].as_str().unwrap_or_default(),
                obj["metadata"]["name"].as_str().unwrap_or_default(),
            );
            match self.delete(res, ns, name, opts) {
                Ok(d) => deleted.push(d.object),
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }
}
