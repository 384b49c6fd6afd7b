//! Time intervals, cron granularity and missing-interval math.

use serde::{Deserialize, Serialize};

/// A half-open time range `[start, end)` in milliseconds since the epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Interval {
    pub start: i64,
    pub end: i64,
}
