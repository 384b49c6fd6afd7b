//! Sluice's engine: loading a SQLMesh-format project, the model graph, SQL analysis,
//! fingerprints, change categories, plans and their intervals, data products, and the release
//! evidence document. Pure: no database, no Kubernetes, no async runtime — a dependency that
//! would bring one in is refused by `operator/cli/tests/layers.rs`.

pub mod audit;
pub mod cache;
pub mod categorize;
pub mod evidence;
pub mod fingerprint;
pub mod grants;
pub mod graph;
pub mod intervals;
pub mod macros;
pub mod model;
pub mod plan;
pub mod products;
pub mod project;
pub mod seed;
pub mod snapshot;
pub mod sql;
pub mod unit_test;
