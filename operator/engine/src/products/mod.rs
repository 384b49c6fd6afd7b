//! Data products: `products.yaml` beside `config.yaml` names what a project promises to whom —
//! each product's owners, the models it exposes, its consumers, and its promises (freshness,
//! schema stability, quality, classification). SQLMesh ignores the file, so a project stays
//! SQLMesh-compatible.
//!
//! Loading (`project::products`) resolves every model selector (a name, a glob such as
//! `mart.*`, or `tag:finance`) against the project's models, so a typo is an error at plan
//! time, not a promise nobody checks. `plan::impact` says what a plan does to each product;
//! `freshness` measures how far behind a product's models are.

pub mod freshness;

use serde::{Deserialize, Serialize};

use crate::model::model_key;

/// The file, at the project's root.
pub const FILE: &str = "products.yaml";

/// Who answers for a product: users and groups (as the Kubernetes API server names them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owners {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

impl Owners {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }

    /// `users alice, bob; groups finance`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.users.is_empty() {
            parts.push(format!("users {}", self.users.join(", ")));
        }
        if !self.groups.is_empty() {
            parts.push(format!("groups {}", self.groups.join(", ")));
        }
        if parts.is_empty() {
            "nobody".into()
        } else {
            parts.join("; ")
        }
    }

    /// Whether `user`, or one of `groups` (verified for them), is among these.
    pub fn admits(&self, user: &str, groups: &[String]) -> bool {
        self.users.iter().any(|u| u == user) || groups.iter().any(|g| self.groups.contains(g))
    }
}

/// What reads a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsumerKind {
    Dashboard,
    Service,
    AgentTool,
    Team,
}

/// Someone or something downstream of a product, who learns what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    pub name: String,
    pub kind: ConsumerKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// An e-mail address, a chat channel, or a URL of the consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Whether a breaking change to an exposed model changes the product's meaning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemaPromise {
    /// Breaking changes, removed models and removed or retyped columns are meaning changes:
    /// they need an owner's approval.
    #[default]
    Stable,
    /// No promise about the schema.
    None,
}

/// What a product promises its consumers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promises {
    /// The largest acceptable age of the newest complete interval, as written (`26h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freshness: Option<String>,
    /// `freshness` in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freshness_seconds: Option<i64>,
    #[serde(default)]
    pub schema: SchemaPromise,
    /// Audits (by name, as attached to the exposed models) that must pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quality: Vec<String>,
}

/// One data product, its selectors resolved to model names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub owners: Owners,
    /// The exposed models' names, as written in their headers, sorted.
    pub models: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<Consumer>,
    #[serde(default)]
    pub promises: Promises,
    /// Classification tags (`pii`): changes need that classification's approvers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classification: Vec<String>,
}

impl Product {
    pub fn exposes(&self, model: &str) -> bool {
        let key = model_key(model);
        self.models.iter().any(|m| model_key(m) == key)
    }
}
