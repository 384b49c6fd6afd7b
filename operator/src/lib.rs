//! Sluice: reviewed, tested, approved releases of SQL models.
//!
//! The engine (project loading, graph, fingerprints, categorization, plans, intervals) is pure;
//! `warehouse` and `state` talk to a database; `executor` runs the tasks a plan needs.

pub mod apply;
pub mod audit;
pub mod cache;
pub mod categorize;
pub mod controller;
pub mod evidence;
pub mod executor;
pub mod fingerprint;
pub mod graph;
pub mod intervals;
pub mod janitor;
pub mod k8s;
pub mod lineage;
pub mod model;
pub mod plan;
pub mod plugin;
pub mod products;
pub mod project;
pub mod promote;
pub mod run;
pub mod seed;
pub mod snapshot;
pub mod sql;
pub mod state;
pub mod warehouse;
pub mod workspace;
