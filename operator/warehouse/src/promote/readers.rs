//! Living with readers: a flip asks for its locks with a short `lock_timeout`, so a reader
//! arriving meanwhile waits at most that long; when a long reader holds a view, the flip backs
//! off (with jitter), says who is in the way, and tries again until its ceiling.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_engine::snapshot::quote_literal;

use crate::warehouse::{Warehouse, WarehouseError};

/// How a flip behaves towards the warehouse's readers.
#[derive(Clone)]
pub struct FlipPolicy {
    /// The longest a flip's lock request may wait, which is also the longest a reader arriving
    /// during that request waits behind it.
    pub lock_timeout: Duration,
    /// How long to keep retrying while readers hold the views before giving up (nothing
    /// changed).
    pub wait_for_readers: Duration,
    /// Told of every wait and of the finished flip (progress lines, conditions, metrics).
    pub observer: Option<FlipObserver>,
    /// Refuse to flip on a warehouse that can only move views one by one (Spark): for teams
    /// whose readers must never see two releases at once.
    pub require_atomic: bool,
}

/// Receives a flip's progress.
pub type FlipObserver = Arc<dyn Fn(&FlipEvent) + Send + Sync>;

impl Default for FlipPolicy {
    fn default() -> Self {
        FlipPolicy {
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            wait_for_readers: DEFAULT_WAIT_FOR_READERS,
            observer: None,
            require_atomic: false,
        }
    }
}

impl std::fmt::Debug for FlipPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlipPolicy")
            .field("lock_timeout", &self.lock_timeout)
            .field("wait_for_readers", &self.wait_for_readers)
            .finish_non_exhaustive()
    }
}

pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(1);
pub const DEFAULT_WAIT_FOR_READERS: Duration = Duration::from_secs(10 * 60);

impl FlipPolicy {
    pub(super) fn tell(&self, event: FlipEvent) {
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }
}

/// What a flip reports while it works.
#[derive(Debug, Clone, PartialEq)]
pub enum FlipEvent {
    /// The views are held by a reader: the flip waits and will try again.
    Waiting {
        attempt: u32,
        waited: Duration,
        blocker: Option<Blocker>,
    },
    /// The flip committed.
    Flipped(FlipReport),
}

/// How a committed flip went.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FlipReport {
    /// From the first exclusive lock on a reader-visible view to the commit: how long a reader
    /// arriving at the worst moment could wait.
    pub lock_held: Duration,
    /// From the start of the flip (views prepared ahead included) to the commit.
    pub total: Duration,
    pub attempts: u32,
    /// Schemas swapped whole (views prepared ahead) and schemas changed in place.
    pub swapped_schemas: usize,
    pub in_place_schemas: usize,
    /// Views whose rows change: the ones locked (the others keep reading the same table).
    pub changing_views: usize,
    /// The views moved one by one, without a transaction (Spark): `lock_held` is then the
    /// window in which a reader could see views of both releases.
    pub per_view: bool,
}

/// A session holding one of the views a flip must lock.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocker {
    /// `schema.view`.
    pub view: String,
    pub pid: i64,
    /// How long its transaction has been running.
    pub age: Duration,
    /// The start of its current query, for the person deciding whether to wait.
    pub query: String,
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is read by session {} for {}s ({})",
            self.view,
            self.pid,
            self.age.as_secs(),
            self.query
        )
    }
}

/// `SET LOCAL lock_timeout` for the flip's transaction (PostgreSQL only).
pub(super) fn lock_timeout_statement(policy: &FlipPolicy) -> String {
    format!(
        "SET LOCAL lock_timeout = '{}ms'",
        policy.lock_timeout.as_millis().max(1)
    )
}

/// The oldest session (other than ours) holding a lock on one of `views` (schema, view), if
/// its transaction is older than `older_than`: a reader the flip would have to wait for.
pub(super) fn oldest_reader(
    warehouse: &mut dyn Warehouse,
    views: &BTreeSet<(String, String)>,
    older_than: Duration,
) -> Result<Option<Blocker>, WarehouseError> {
    let schemas: BTreeSet<&String> = views.iter().map(|(schema, _)| schema).collect();
    if schemas.is_empty() {
        return Ok(None);
    }
    let names: Vec<String> = schemas.iter().map(|s| quote_literal(s)).collect();
    let rows = warehouse.query(&format!(
        "SELECT n.nspname || '.' || c.relname, a.pid, \
                floor(extract(epoch FROM now() - coalesce(a.xact_start, a.query_start)) * 1000)::bigint, \
                left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 120), \
                n.nspname, c.relname \
         FROM pg_locks l \
         JOIN pg_class c ON c.oid = l.relation \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.granted AND l.pid <> pg_backend_pid() AND c.relkind = 'v' \
           AND n.nspname IN ({}) \
         ORDER BY 3 DESC",
        names.join(", ")
    ))?;
    let Some(row) = rows.into_iter().find(|row| {
        let name = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        views.contains(&(name(4), name(5)))
    }) else {
        return Ok(None);
    };
    let text = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
    let age = Duration::from_millis(text(2).parse::<u64>().unwrap_or(0));
    if age < older_than {
        return Ok(None);
    }
    Ok(Some(Blocker {
        view: text(0),
        pid: text(1).parse().unwrap_or(0),
        age,
        query: text(3),
    }))
}

/// Waits between attempts: doubling from half a second up to ten seconds, with up to a
/// quarter of jitter so that flips of several environments do not retry in step.
pub(super) struct Backoff {
    started: Instant,
    attempt: u32,
}

impl Backoff {
    pub(super) fn new() -> Backoff {
        Backoff {
            started: Instant::now(),
            attempt: 0,
        }
    }

    pub(super) fn attempt(&self) -> u32 {
        self.attempt
    }

    pub(super) fn waited(&self) -> Duration {
        self.started.elapsed()
    }

    pub(super) fn next_attempt(&mut self) {
        self.attempt += 1;
    }

    /// Sleeps before the next attempt, never past `ceiling`; false when the ceiling is reached.
    pub(super) fn sleep(&mut self, ceiling: Duration) -> bool {
        let base = Duration::from_millis(500) * 2u32.saturating_pow(self.attempt.min(5));
        let base = base.min(Duration::from_secs(10));
        let jitter = base.mul_f64(jitter_fraction() * 0.25);
        let left = ceiling.saturating_sub(self.started.elapsed());
        if left.is_zero() {
            return false;
        }
        std::thread::sleep((base + jitter).min(left));
        true
    }
}

/// A fraction in [0, 1) that differs between processes and calls; no need for a real RNG.
fn jitter_fraction() -> f64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    (hasher.finish() % 10_000) as f64 / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stops_at_the_ceiling() {
        let mut backoff = Backoff::new();
        backoff.next_attempt();
        assert!(!backoff.sleep(Duration::ZERO));
        assert!(backoff.sleep(Duration::from_millis(20)));
        assert!(backoff.waited() < Duration::from_secs(1));
    }

    #[test]
    fn the_lock_timeout_is_whole_milliseconds() {
        let policy = FlipPolicy {
            lock_timeout: Duration::from_millis(1500),
            ..FlipPolicy::default()
        };
        assert_eq!(
            lock_timeout_statement(&policy),
            "SET LOCAL lock_timeout = '1500ms'"
        );
    }
}
