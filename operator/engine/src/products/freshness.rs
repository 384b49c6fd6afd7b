//! How far behind a product's models are: the age of the newest complete interval of each
//! exposed model, at a given time, against the product's freshness promise.
//!
//! A model's newest complete interval ends where the latest recorded interval of its table
//! version ends (for FULL and incremental kinds). A VIEW (or embedded) model is as fresh as the
//! stalest model it reads; seeds and external tables carry no intervals, so a product made only
//! of them has no freshness to measure.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::Product;
use crate::graph::model_key;

/// What freshness is measured from, for one snapshot set.
#[derive(Debug, Clone, Default)]
pub struct FreshnessInputs {
    /// Model key → the model's kind (`VIEW`, `FULL`, ...).
    pub kinds: HashMap<String, String>,
    /// Model key → its parents' names.
    pub parents: HashMap<String, Vec<String>>,
    /// Model key → end of the newest recorded interval of its table (epoch ms).
    pub newest: HashMap<String, i64>,
}

/// One exposed model's freshness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFreshness {
    pub product: String,
    pub model: String,
    /// End of its newest complete interval (epoch ms); `None`: no time-based data.
    pub newest: Option<i64>,
    /// Seconds between `newest` and the time measured at.
    pub lag_seconds: Option<i64>,
    /// The promise (seconds).
    pub max_age_seconds: i64,
    pub ok: bool,
}

impl ModelFreshness {
    /// `mart.daily_revenue is 3d 4h behind (promise: 26h)`.
    pub fn describe(&self) -> String {
        match self.lag_seconds {
            Some(lag) => format!(
                "{} is {} behind (promise: {})",
                self.model,
                human_duration(lag),
                human_duration(self.max_age_seconds)
            ),
            None => format!("{} has no time-based data to age", self.model),
        }
    }
}

impl FreshnessInputs {
    /// End of the newest complete interval of `model` (a view: of the stalest model it reads).
    pub fn newest_end(&self, model: &str) -> Option<i64> {
        self.newest_end_seen(&model_key(model), &mut BTreeSet::new())
    }

    fn newest_end_seen(&self, key: &str, seen: &mut BTreeSet<String>) -> Option<i64> {
        if !seen.insert(key.to_string()) {
            return None;
        }
        match self.kinds.get(key).map(String::as_str) {
            Some("VIEW" | "EMBEDDED") => self
                .parents
                .get(key)
                .into_iter()
                .flatten()
                .filter_map(|p| self.newest_end_seen(&model_key(p), seen))
                .min(),
            Some("SEED" | "EXTERNAL") | None => None,
            Some(_) => self.newest.get(key).copied(),
        }
    }

    /// Every exposed model of `product` with a freshness promise, measured at `at_ms`.
    pub fn check(&self, product: &Product, at_ms: i64) -> Vec<ModelFreshness> {
        let Some(max_age) = product.promises.freshness_seconds else {
            return Vec::new();
        };
        product
            .models
            .iter()
            .map(|model| {
                let newest = self.newest_end(model);
                let lag = newest.map(|end| ((at_ms - end) / 1000).max(0));
                ModelFreshness {
                    product: product.name.clone(),
                    model: model.clone(),
                    newest,
                    lag_seconds: lag,
                    max_age_seconds: max_age,
                    ok: lag.is_none_or(|lag| lag <= max_age),
                }
            })
            .collect()
    }
}

/// `3d 4h`, `26h`, `45m`, `12s`: the two largest units, hours up to three days (as
/// freshness promises are usually written).
pub fn human_duration(seconds: i64) -> String {
    let units: &[(i64, &str)] = if seconds < 3 * 86_400 {
        &[(3_600, "h"), (60, "m"), (1, "s")]
    } else {
        &[(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")]
    };
    let mut parts = Vec::new();
    let mut rest = seconds.max(0);
    for &(size, unit) in units {
        if rest >= size {
            parts.push(format!("{}{unit}", rest / size));
            rest %= size;
        }
        if parts.len() == 2 {
            break;
        }
    }
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::products::{Owners, Promises};

    fn inputs() -> FreshnessInputs {
        let mut i = FreshnessInputs::default();
        for (model, kind, parents) in [
            ("raw.orders", "SEED", vec![]),
            (
                "mart.daily",
                "INCREMENTAL_BY_TIME_RANGE",
                vec!["raw.orders"],
            ),
            ("mart.full", "FULL", vec!["raw.orders"]),
            ("mart.v", "VIEW", vec!["mart.daily", "mart.full"]),
        ] {
            i.kinds.insert(model.into(), kind.into());
            i.parents.insert(
                model.into(),
                parents.into_iter().map(String::from).collect(),
            );
        }
        i.newest.insert("mart.daily".into(), 10 * 3_600_000);
        i.newest.insert("mart.full".into(), 20 * 3_600_000);
        i
    }

    fn product(models: &[&str], freshness: i64) -> Product {
        Product {
            name: "revenue".into(),
            description: None,
            owners: Owners::default(),
            models: models.iter().map(|m| m.to_string()).collect(),
            consumers: vec![],
            promises: Promises {
                freshness: Some(format!("{freshness}s")),
                freshness_seconds: Some(freshness),
                ..Default::default()
            },
            classification: vec![],
        }
    }

    #[test]
    fn a_view_is_as_fresh_as_the_stalest_model_it_reads() {
        let i = inputs();
        assert_eq!(i.newest_end("mart.v"), Some(10 * 3_600_000));
        assert_eq!(i.newest_end("raw.orders"), None);
        let checks = i.check(
            &product(&["mart.v", "raw.orders"], 26 * 3600),
            40 * 3_600_000,
        );
        assert_eq!(checks[0].lag_seconds, Some(30 * 3600));
        assert!(!checks[0].ok);
        assert_eq!(checks[0].describe(), "mart.v is 30h behind (promise: 26h)");
        assert!(checks[1].ok, "static data keeps its promise");
        assert!(i.check(&product(&["mart.full"], 26 * 3600), 40 * 3_600_000)[0].ok);
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(26 * 3600), "26h");
        assert_eq!(human_duration(3 * 86_400 + 4 * 3600 + 59), "3d 4h");
        assert_eq!(human_duration(45 * 60), "45m");
    }
}
