//! A test Kubernetes control plane for Sluice's end-to-end tests: an API server that kubectl
//! and kube-rs accept, plus a tiny kubelet that runs Job pods as local processes. See
//! `e2e/README.md` for what it implements and what it does not.

pub mod api;
pub mod auth;
pub mod controllers;
pub mod defaults;
pub mod discovery;
pub mod error;
pub mod harness;
pub mod kubelet;
pub mod meta;
pub mod patch;
pub mod resources;
pub mod scenario;
pub mod selectors;
pub mod server;
pub mod store;
pub mod table;
pub mod tls;
pub mod validation;
pub mod watch;

pub use harness::{TestCluster, TestClusterBuilder};
pub use kubelet::{ImageRule, ImageTarget};
pub use scenario::Scenario;
