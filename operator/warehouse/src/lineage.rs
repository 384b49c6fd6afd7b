//! OpenLineage: one `RunEvent` per release, so catalogues (Marquez, DataHub, ...) and agents
//! learn what a promotion changed. Job `sluice.promote.<environment>`; inputs are the physical
//! tables the environment now points at, outputs its views, both with schema facets; custom
//! facets carry the change categories, audits and gates. Events follow the OpenLineage 2-0-2
//! spec (vendored in `docs/openlineage`, checked in tests with a JSON Schema validator).
//!
//! Sending is best effort and never part of the flip: a failed POST is retried by the caller
//! and never undoes or blocks a promotion.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sluice_engine::evidence::Evidence;
use sluice_engine::snapshot::{environment_view, quote_literal};

use crate::warehouse::{Warehouse, WarehouseError};

pub const PRODUCER: &str = "https://github.com/sluice-dev/sluice";
pub const SCHEMA_URL: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const SCHEMA_FACET_URL: &str =
    "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet";
/// Where Sluice's own facets are described (`docs/openlineage/sluice-facets.schema.json`).
const SLUICE_FACETS_URL: &str =
    "https://github.com/sluice-dev/sluice/blob/main/docs/openlineage/sluice-facets.schema.json";

/// Columns per relation (`schema.table` → name and type), for schema facets.
pub type Columns = BTreeMap<String, Vec<(String, String)>>;

/// OpenLineage's dataset namespace for a warehouse URL, without credentials:
/// `postgres://host:port` (dataset names are `database.schema.table`) or `duckdb://<path>`.
pub fn namespace(url: &str) -> (String, String) {
    if let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    {
        let rest = rest.split('?').next().unwrap_or(rest);
        let after_auth = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        let (host, database) = after_auth.split_once('/').unwrap_or((after_auth, ""));
        let host = if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:5432")
        };
        return (format!("postgres://{host}"), format!("{database}."));
    }
    let path = url.strip_prefix("duckdb:").unwrap_or(url);
    (format!("duckdb://{path}"), String::new())
}

/// A stable run id (a UUID) for a release: resending the event is idempotent downstream.
pub fn run_id(evidence: &Evidence) -> String {
    let hash = Sha256::digest(format!(
        "sluice-run\n{}\n{}\n{}",
        evidence.environment, evidence.release, evidence.promoted_at
    ));
    let mut b: [u8; 16] = hash[..16].try_into().expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn facet(schema: &str, body: Value) -> Value {
    let mut facet = json!({"_producer": PRODUCER, "_schemaURL": schema});
    if let (Some(f), Value::Object(b)) = (facet.as_object_mut(), body) {
        f.extend(b);
    }
    facet
}

fn sluice_facet(name: &str, body: Value) -> Value {
    facet(&format!("{SLUICE_FACETS_URL}#/$defs/{name}"), body)
}

fn schema_facet(columns: Option<&Vec<(String, String)>>) -> Value {
    let fields: Vec<Value> = columns
        .into_iter()
        .flatten()
        .map(|(name, type_)| json!({"name": name, "type": type_}))
        .collect();
    facet(SCHEMA_FACET_URL, json!({"fields": fields}))
}

/// The RunEvent of a release. `url`: the warehouse (for dataset namespaces); `columns`: from
/// [`view_columns`].
pub fn event(evidence: &Evidence, url: &str, columns: &Columns) -> Value {
    let (ns, prefix) = namespace(url);
    let changes: BTreeMap<&str, _> = evidence
        .changes
        .iter()
        .map(|c| (c.model.as_str(), c))
        .collect();
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    for r in evidence.after.snapshots.iter().filter(|r| !r.is_symbolic()) {
        let table = r.table();
        let (schema, view) = environment_view(&evidence.environment, &r.name);
        let view_key = format!("{schema}.{view}");
        let cols = columns.get(&view_key);
        inputs.push(json!({
            "namespace": ns,
            "name": format!("{prefix}{}.{}", table.schema, table.table),
            "facets": {"schema": schema_facet(cols)},
        }));
        let change = changes.get(r.name.as_str());
        outputs.push(json!({
            "namespace": ns,
            "name": format!("{prefix}{view_key}"),
            "facets": {
                "schema": schema_facet(cols),
                "sluice_change": sluice_facet("ChangeDatasetFacet", json!({
                    "model": r.name,
                    "version": r.version,
                    "change": change.map(|c| json!(c.change)),
                    "category": change.and_then(|c| c.category).map(|c| c.as_str()),
                })),
            },
        }));
    }
    json!({
        "eventType": "COMPLETE",
        "eventTime": evidence.promoted_at,
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {
            "runId": run_id(evidence),
            "facets": {
                "sluice_release": sluice_facet("ReleaseRunFacet", json!({
                    "release": evidence.release,
                    "environment": evidence.environment,
                    "kind": evidence.kind,
                    "plan": evidence.plan.id,
                    "digest": evidence.plan.digest,
                    "previousRelease": evidence.before.release,
                    "rollbackTarget": evidence.rollback.target,
                    "promotedBy": evidence.promoted_by,
                    "approvedBy": evidence.approvals.iter().map(|a| a.user.clone()).collect::<Vec<_>>(),
                    "source": evidence.source,
                })),
                "sluice_categories": sluice_facet("CategoriesRunFacet", json!({
                    "changes": evidence.changes.iter().map(|c| json!({
                        "model": c.model, "change": c.change, "category": c.category,
                    })).collect::<Vec<_>>(),
                })),
                "sluice_audits": sluice_facet("AuditsRunFacet", json!({
                    "audits": evidence.audits,
                })),
                "sluice_gates": sluice_facet("GatesRunFacet", json!({
                    "gates": evidence.gates,
                })),
                "sluice_products": sluice_facet("ProductsRunFacet", json!({
                    "products": evidence.products.iter().filter(|p| p.affected).map(|p| json!({
                        "name": p.name,
                        "meaningChange": p.meaning_change,
                        "consumers": p.consumers,
                        "checks": p.checks,
                    })).collect::<Vec<_>>(),
                })),
            },
        },
        "job": {
            "namespace": "sluice",
            "name": format!("sluice.promote.{}", evidence.environment),
        },
        "inputs": inputs,
        "outputs": outputs,
    })
}

/// The columns of an environment's views (`schema.view` → name, type), from the warehouse.
pub fn view_columns(
    warehouse: &mut dyn Warehouse,
    evidence: &Evidence,
) -> Result<Columns, WarehouseError> {
    let schemas: std::collections::BTreeSet<String> = evidence
        .after
        .snapshots
        .iter()
        .filter(|r| !r.is_symbolic())
        .map(|r| environment_view(&evidence.environment, &r.name).0)
        .collect();
    if schemas.is_empty() {
        return Ok(Columns::new());
    }
    // Spark has no information_schema: each view is described on its own.
    if warehouse.dialect() == sluice_engine::model::Dialect::Spark {
        let mut out = Columns::new();
        for r in evidence.after.snapshots.iter().filter(|r| !r.is_symbolic()) {
            let (schema, table) = environment_view(&evidence.environment, &r.name);
            let view = sluice_engine::snapshot::PhysicalTable { schema, table };
            let columns = crate::warehouse::table_columns(warehouse, &view)?;
            out.insert(format!("{}.{}", view.schema, view.table), columns);
        }
        return Ok(out);
    }
    let list: Vec<String> = schemas.iter().map(|s| quote_literal(s)).collect();
    let rows = warehouse.query(&format!(
        "SELECT table_schema, table_name, column_name, data_type
         FROM information_schema.columns WHERE table_schema IN ({})
         ORDER BY table_schema, table_name, ordinal_position",
        list.join(", ")
    ))?;
    let mut out = Columns::new();
    for row in rows {
        if let [Some(schema), Some(table), Some(column), type_] = row.as_slice() {
            out.entry(format!("{schema}.{table}"))
                .or_default()
                .push((column.clone(), type_.clone().unwrap_or_default()));
        }
    }
    Ok(out)
}

/// POSTs the event as JSON to an OpenLineage HTTP endpoint (Marquez: `POST /api/v1/lineage`;
/// a URL without a path gets that one). Plain `http://` only: inside a cluster, or behind a
/// TLS-terminating proxy.
pub fn post(url: &str, event: &Value, timeout: Duration) -> Result<(), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("lineage endpoint {url:?}: only http:// URLs are supported (use a proxy for TLS, or lineage.file)")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) if i + 1 < rest.len() => (&rest[..i], &rest[i..]),
        Some(i) => (&rest[..i], "/api/v1/lineage"),
        None => (rest, "/api/v1/lineage"),
    };
    let host = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let address = host
        .to_socket_addrs()
        .map_err(|e| format!("lineage endpoint {url}: {e}"))?
        .next()
        .ok_or_else(|| format!("lineage endpoint {url}: no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .map_err(|e| format!("lineage endpoint {url}: {e}"))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\nUser-Agent: sluice\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|_| stream.write_all(&body))
        .map_err(|e| format!("lineage endpoint {url}: {e}"))?;
    let mut response = Vec::new();
    let _ = stream.take(64 * 1024).read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("lineage endpoint {url}: no HTTP response"))?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("lineage endpoint {url} answered HTTP {status}"))
    }
}

/// Appends the event as one JSON line to `path` (OpenLineage's file transport format).
pub fn append(path: &std::path::Path, event: &Value) -> Result<(), String> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("lineage file {}: {e}", path.display()))?;
    let mut line = serde_json::to_string(event).map_err(|e| e.to_string())?;
    line.push('\n');
    file.write_all(line.as_bytes())
        .map_err(|e| format!("lineage file {}: {e}", path.display()))
}

/// Sends with up to `attempts` tries, waiting 0.5 s, 1 s, 2 s ... between them. Returns the
/// last error when every try failed.
pub fn post_with_retries(url: &str, event: &Value, attempts: u32) -> Result<(), String> {
    let mut wait = Duration::from_millis(500);
    let mut last = String::new();
    for attempt in 1..=attempts.max(1) {
        match post(url, event, Duration::from_secs(5)) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
        if attempt < attempts {
            std::thread::sleep(wait);
            wait *= 2;
        }
    }
    Err(format!("after {attempts} attempt(s): {last}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_drop_credentials() {
        assert_eq!(
            namespace("postgres://u:secret@db.example:6543/analytics?sslmode=require"),
            ("postgres://db.example:6543".into(), "analytics.".into())
        );
        assert_eq!(
            namespace("postgresql://db/analytics"),
            ("postgres://db:5432".into(), "analytics.".into())
        );
        assert_eq!(
            namespace("duckdb:/data/w.duckdb"),
            ("duckdb:///data/w.duckdb".into(), String::new())
        );
    }
}
