//! A test Kubernetes control plane for Sluice's end-to-end tests: an API server that kubectl
//! and kube-rs accept (with RBAC, validating admission policies, service accounts), plus a
//! tiny kubelet that runs Job and Deployment pods as local processes. See `e2e/README.md` for
//! what it implements and what it does not.

pub mod admission;
pub mod api;
pub mod auth;
pub mod celenv;
pub mod controllers;
pub mod convert;
pub mod discovery;
pub mod error;
pub mod fieldmanager;
pub mod harness;
pub mod kinds;
pub mod kubelet;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod rbac;
pub mod resources;
pub mod scenario;
pub mod schema;
pub mod selectors;
pub mod server;
pub mod serviceaccounts;
pub mod store;
pub mod table;
pub mod tls;
pub mod watch;

pub use harness::{TestCluster, TestClusterBuilder};
pub use kubelet::{ImageRule, ImageTarget};
pub use scenario::Scenario;
