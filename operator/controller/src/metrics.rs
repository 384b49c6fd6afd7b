//! Prometheus metrics on `/metrics`: reconciles, errors and their durations per kind, objects
//! per phase, Jobs created, flips.

use std::sync::Mutex;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: String,
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProductLabels {
    pub product: String,
    pub environment: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub kind: String,
    pub phase: String,
}

fn histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// Every metric the operator exports.
pub struct Metrics {
    registry: Mutex<Registry>,
    pub reconciles: Family<KindLabels, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub durations: Family<KindLabels, Histogram>,
    pub phases: Family<PhaseLabels, Gauge>,
    pub jobs_created: Counter,
    pub flips: Counter,
    pub flip_seconds: Histogram,
    /// How long a flip held the locks readers can notice.
    pub flip_lock_seconds: Histogram,
    /// Flips that found the views held by a query and waited.
    pub flip_waits: Counter,
    /// Janitor runs' drops: tables and schemas.
    pub janitor_dropped: Counter,
    pub freshness: Family<ProductLabels, Gauge>,
    /// 1 while the approval policy is verified where the operator last looked, else 0.
    pub approval_policy: Family<NamespaceLabels, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NamespaceLabels {
    pub namespace: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("sluice");
        let reconciles = Family::<KindLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let durations = Family::<KindLabels, Histogram>::new_with_constructor(histogram);
        let phases = Family::<PhaseLabels, Gauge>::default();
        let jobs_created = Counter::default();
        let flips = Counter::default();
        let flip_seconds = histogram();
        let flip_lock_seconds = histogram();
        let flip_waits = Counter::default();
        let janitor_dropped = Counter::default();
        registry.register("reconciles", "Reconciles by kind", reconciles.clone());
        registry.register(
            "reconcile_errors",
            "Failed reconciles by kind and reason",
            errors.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile durations by kind",
            durations.clone(),
        );
        registry.register("objects", "Plans and Promotions by phase", phases.clone());
        registry.register(
            "jobs_created",
            "Backfill and run Jobs created",
            jobs_created.clone(),
        );
        registry.register(
            "flips",
            "Environments flipped (promotions and rollbacks)",
            flips.clone(),
        );
        registry.register(
            "flip_duration_seconds",
            "Time to flip an environment's views in one transaction",
            flip_seconds.clone(),
        );
        registry.register(
            "flip_lock_seconds",
            "Time a flip held exclusive locks on views readers use (the longest a reader could \
             wait behind it)",
            flip_lock_seconds.clone(),
        );
        registry.register(
            "flip_reader_waits",
            "Times a flip found the environment's views held by a query and waited",
            flip_waits.clone(),
        );
        registry.register(
            "janitor_dropped",
            "Tables, views and schemas the scheduled janitor dropped",
            janitor_dropped.clone(),
        );
        let freshness = Family::<ProductLabels, Gauge>::default();
        registry.register(
            "product_freshness_seconds",
            "Age of the newest complete interval of each data product's stalest model",
            freshness.clone(),
        );
        let approval_policy = Family::<NamespaceLabels, Gauge>::default();
        registry.register(
            "approval_policy_verified",
            "1 when the approval admission policy is installed unchanged and binding in the \
             namespace (approvals there can count), 0 when it is not",
            approval_policy.clone(),
        );
        Metrics {
            freshness,
            approval_policy,
            registry: Mutex::new(registry),
            reconciles,
            errors,
            durations,
            phases,
            jobs_created,
            flips,
            flip_seconds,
            flip_lock_seconds,
            flip_waits,
            janitor_dropped,
        }
    }
}

impl Metrics {
    /// Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }

    /// Whether approvals in `namespace` can be trusted (the approval policy is verified there).
    pub fn approval_policy_verified(&self, namespace: &str, verified: bool) {
        self.approval_policy
            .get_or_create(&NamespaceLabels {
                namespace: namespace.to_string(),
            })
            .set(i64::from(verified));
    }

    /// Counts a reconcile of `kind` and times it until the guard drops.
    pub fn reconcile(&self, kind: &str) -> ReconcileTimer<'_> {
        let labels = KindLabels { kind: kind.into() };
        self.reconciles.get_or_create(&labels).inc();
        ReconcileTimer {
            metrics: self,
            labels,
            started: Instant::now(),
        }
    }

    /// Sets `sluice_product_freshness_seconds{product, environment}`.
    pub fn product_freshness(&self, product: &str, environment: &str, seconds: i64) {
        self.freshness
            .get_or_create(&ProductLabels {
                product: product.into(),
                environment: environment.into(),
            })
            .set(seconds);
    }

    pub fn error(&self, kind: &str, reason: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                kind: kind.into(),
                reason: reason.into(),
            })
            .inc();
    }

    /// Replaces the per-phase counts of `kind`.
    pub fn set_phases(&self, kind: &str, counts: &[(String, i64)]) {
        for (phase, n) in counts {
            self.phases
                .get_or_create(&PhaseLabels {
                    kind: kind.into(),
                    phase: phase.clone(),
                })
                .set(*n);
        }
    }
}

/// Records a reconcile's duration when dropped.
pub struct ReconcileTimer<'m> {
    metrics: &'m Metrics,
    labels: KindLabels,
    started: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.metrics
            .durations
            .get_or_create(&self.labels)
            .observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_as_prometheus_text() {
        let m = Metrics::default();
        drop(m.reconcile("Plan"));
        m.error("Plan", "SecretNotFound");
        m.jobs_created.inc();
        let text = m.encode();
        assert!(
            text.contains("sluice_reconciles_total{kind=\"Plan\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "sluice_reconcile_errors_total{kind=\"Plan\",reason=\"SecretNotFound\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("sluice_jobs_created_total 1"), "{text}");
        assert!(
            text.contains("sluice_reconcile_duration_seconds_count{kind=\"Plan\"} 1"),
            "{text}"
        );
    }
}
