//! Parsed model queries from the last run, keyed by query text and dialect
//! ([`crate::sql::query_key`]).

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::graph::Dag;
use crate::sql::{ParsedQueries, ParsedQuery, query_key};

const FILE: &str = "queries.json";

/// The queries parsed by the last run (none when there is no usable cache).
pub fn load(dir: &Path) -> ParsedQueries {
    let earlier = super::read(&dir.join(FILE), &super::header(Value::Null));
    ParsedQueries::new(earlier.unwrap_or_default())
}

/// Keeps the queries of `dag` for the next run, if they differ from what [`load`] found.
pub fn save(dir: &Path, parsed: &ParsedQueries, dag: &Dag) {
    if !parsed.changed() {
        return;
    }
    let queries: HashMap<String, &ParsedQuery> = dag
        .nodes
        .iter()
        .filter_map(|node| {
            let sql = node.model.query.as_deref()?;
            Some((query_key(sql, node.model.dialect), node.query.as_ref()?))
        })
        .collect();
    super::write(&dir.join(FILE), &super::header(Value::Null), &queries);
}
