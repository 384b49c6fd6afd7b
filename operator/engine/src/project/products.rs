//! Loading `products.yaml`: parsing it, and resolving each product's model selectors against
//! the project's models, with every problem reported at its line.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use super::Diagnostic;
use crate::model::{Model, model_key};
use crate::products::{Consumer, FILE, Owners, Product, Promises, SchemaPromise};

/// `products.yaml` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    products: Vec<RawProduct>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProduct {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    owners: Owners,
    models: Vec<String>,
    #[serde(default)]
    consumers: Vec<Consumer>,
    #[serde(default)]
    promises: RawPromises,
    #[serde(default)]
    classification: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPromises {
    #[serde(default)]
    freshness: Option<String>,
    #[serde(default)]
    schema: SchemaPromise,
    #[serde(default)]
    quality: Vec<String>,
}

/// Reads `products.yaml` under `root` (none: no products) and resolves it against `models`.
pub fn load(root: &Path, models: &[Model]) -> Result<Vec<Product>, Vec<Diagnostic>> {
    let path = root.join(FILE);
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| vec![diagnostic(None, format!("cannot read file: {e}"))])?;
    parse(&text, models)
}

fn diagnostic(line: Option<usize>, message: String) -> Diagnostic {
    Diagnostic {
        path: FILE.into(),
        line,
        column: None,
        message,
    }
}

/// Parses the text of `products.yaml`; every problem is reported, each with its line.
pub fn parse(text: &str, models: &[Model]) -> Result<Vec<Product>, Vec<Diagnostic>> {
    let file: File = match serde_saphyr::from_str::<Option<File>>(text) {
        Ok(file) => file.unwrap_or(File {
            products: Vec::new(),
        }),
        Err(e) => {
            let line = e.location().map(|l| l.line() as usize);
            let message = e.without_snippet().to_string();
            return Err(vec![diagnostic(
                line,
                format!("invalid products file: {message}"),
            )]);
        }
    };
    let mut errors = Vec::new();
    let mut seen = BTreeSet::new();
    let mut products = Vec::new();
    for raw in file.products {
        let line = line_of(text, &raw.name);
        let mut error = |message: String| {
            errors.push(diagnostic(
                line,
                format!("product {:?}: {message}", raw.name),
            ));
        };
        if raw.name.trim().is_empty() {
            error("a product needs a name".into());
            continue;
        }
        if !seen.insert(raw.name.to_lowercase()) {
            error("duplicate product name (each product is defined once)".into());
            continue;
        }
        let mut exposed = BTreeSet::new();
        for selector in &raw.models {
            let found = select(selector, models);
            if found.is_empty() {
                error(format!(
                    "models: {selector:?} matches no model in the project"
                ));
            }
            exposed.extend(found);
        }
        let freshness_seconds = match &raw.promises.freshness {
            Some(text) => match crate::intervals::parse_duration(text) {
                Ok(seconds) if seconds > 0 => Some(seconds),
                Ok(_) => {
                    error("promises.freshness must be longer than zero".into());
                    None
                }
                Err(e) => {
                    error(format!("promises.freshness: {e}"));
                    None
                }
            },
            None => None,
        };
        let exposed_models: Vec<&Model> = models
            .iter()
            .filter(|m| exposed.contains(&m.name))
            .collect();
        for audit in &raw.promises.quality {
            let attached = exposed_models.iter().any(|m| {
                m.audits
                    .iter()
                    .any(|a| a.name == *audit || a.base_name() == audit)
            });
            if !attached && !exposed.is_empty() {
                error(format!(
                    "promises.quality names audit {audit:?}, which none of its models runs"
                ));
            }
        }
        for consumer in &raw.consumers {
            if consumer.name.trim().is_empty() {
                error("every consumer needs a name".into());
            }
        }
        products.push(Product {
            name: raw.name.clone(),
            description: raw.description.clone(),
            owners: raw.owners.clone(),
            models: exposed.into_iter().collect(),
            consumers: raw.consumers.clone(),
            promises: Promises {
                freshness: raw.promises.freshness.clone(),
                freshness_seconds,
                schema: raw.promises.schema,
                quality: raw.promises.quality.clone(),
            },
            classification: raw.classification.clone(),
        });
    }
    if errors.is_empty() {
        Ok(products)
    } else {
        Err(errors)
    }
}

/// The models a selector names: `tag:<tag>`, a glob (`*` any run of characters, `?` one), or a
/// name; case-insensitive, like unquoted SQL identifiers.
pub fn select(selector: &str, models: &[Model]) -> Vec<String> {
    let selector = selector.trim();
    if let Some(tag) = selector.strip_prefix("tag:") {
        let tag = tag.trim().to_lowercase();
        return models
            .iter()
            .filter(|m| m.tags.iter().any(|t| t.to_lowercase() == tag))
            .map(|m| m.name.clone())
            .collect();
    }
    let pattern: Vec<char> = model_key(selector).chars().collect();
    models
        .iter()
        .filter(|m| {
            let name: Vec<char> = model_key(&m.name).chars().collect();
            glob(&pattern, &name)
        })
        .map(|m| m.name.clone())
        .collect()
}

fn glob(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some(('?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

/// The line of `name: <product>` in the file, for messages.
fn line_of(text: &str, product: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let line = line.trim().trim_start_matches('-').trim();
            line.strip_prefix("name:")
                .is_some_and(|rest| rest.trim().trim_matches(|c| c == '"' || c == '\'') == product)
        })
        .map(|i| i + 1)
}

#[cfg(test)]
#[path = "products_tests.rs"]
mod tests;
