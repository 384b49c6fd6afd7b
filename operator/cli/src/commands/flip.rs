//! How `apply` and `rollback` treat the warehouse's readers while flipping: their flags, and
//! the progress lines a person watching sees while a long query holds a view.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, anyhow};
use clap::Args;
use sluice_engine::intervals::parse_duration_ms;
use sluice_warehouse::promote::{FlipEvent, FlipPolicy};

#[derive(Args, Debug, Clone)]
pub struct FlipArgs {
    /// The longest the flip waits for a lock on a view, which is also the longest a reader
    /// arriving meanwhile waits behind it (PostgreSQL; e.g. 500ms, 2s).
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub lock_timeout: String,
    /// How long to keep retrying while a long query holds a view before giving up with
    /// nothing changed (e.g. 30s, 10m).
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub wait_for_readers: String,
    /// Refuse to flip on a warehouse that moves views one by one (Spark), where readers could
    /// see two releases at once for the flip's duration.
    #[arg(long)]
    pub require_atomic: bool,
}

impl FlipArgs {
    /// The policy, with progress lines on standard error.
    pub fn policy(&self) -> Result<FlipPolicy> {
        let parse = |flag: &str, text: &str| {
            parse_duration_ms(text)
                .map(Duration::from_millis)
                .map_err(|e| anyhow!("--{flag}: {e}"))
        };
        Ok(FlipPolicy {
            lock_timeout: parse("lock-timeout", &self.lock_timeout)?,
            wait_for_readers: parse("wait-for-readers", &self.wait_for_readers)?,
            observer: Some(Arc::new(report)),
            require_atomic: self.require_atomic,
        })
    }
}

fn report(event: &FlipEvent) {
    match event {
        FlipEvent::Waiting {
            attempt,
            waited,
            blocker,
        } => match blocker {
            Some(b) => eprintln!(
                "  waiting for readers (attempt {attempt}, {}s so far): {b}",
                waited.as_secs()
            ),
            None => eprintln!(
                "  waiting for readers (attempt {attempt}, {}s so far): a view was locked",
                waited.as_secs()
            ),
        },
        FlipEvent::Flipped(r) if r.per_view => eprintln!(
            "  flipped in {} ms; views moved one by one (this warehouse has no transactions): \
             for {} ms a reader could see views of both releases",
            r.total.as_millis(),
            r.lock_held.as_millis()
        ),
        FlipEvent::Flipped(r) if r.attempts > 1 || r.swapped_schemas > 0 => eprintln!(
            "  flipped in {} ms, exclusive locks held {} ms ({} schema(s) swapped, {} changed in \
             place, {} view(s) with new rows locked, {} attempt(s))",
            r.total.as_millis(),
            r.lock_held.as_millis(),
            r.swapped_schemas,
            r.in_place_schemas,
            r.changing_views,
            r.attempts
        ),
        FlipEvent::Flipped(_) => {}
    }
}
