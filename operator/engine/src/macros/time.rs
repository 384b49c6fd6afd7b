//! The predefined time variables (`@start_ds`, `@end_ts`, `@execution_epoch`, ...).
//!
//! Values are UTC. `end` is inclusive, as in SQLMesh: for the interval ending (exclusively)
//! at 2024-01-04 00:00, `@end_ds` is `'2024-01-03'`, `@end_ts` the last microsecond and
//! `@end_millis` / `@end_epoch` the last millisecond.

use chrono::{DateTime, Timelike, Utc};

use super::TimeRange;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Start,
    End,
    Execution,
}

const SUFFIXES: &[&str] = &[
    "ds", "date", "ts", "tstz", "dt", "dtntz", "epoch", "millis", "hour",
];

/// `start_ds` → (Start, "ds"); `latest_*` is the deprecated spelling of `execution_*`.
pub(crate) fn parse(name: &str) -> Option<(Part, &'static str)> {
    let lower = name.to_ascii_lowercase();
    let (prefix, suffix) = lower.split_once('_')?;
    let part = match prefix {
        "start" => Part::Start,
        "end" => Part::End,
        "execution" | "latest" => Part::Execution,
        _ => return None,
    };
    let suffix = SUFFIXES.iter().find(|s| **s == suffix)?;
    Some((part, suffix))
}

/// Every time variable name, for static checks of Jinja templates.
pub(crate) fn all_names() -> impl Iterator<Item = String> {
    ["start", "end", "execution", "latest"]
        .into_iter()
        .flat_map(|p| SUFFIXES.iter().map(move |s| format!("{p}_{s}")))
}

/// The instant a part stands for, in microseconds, and in milliseconds.
fn instant(part: Part, times: &TimeRange) -> (i64, i64) {
    match part {
        Part::Start => (times.start * 1000, times.start),
        Part::End => (times.end * 1000 - 1, times.end - 1),
        Part::Execution => (times.execution * 1000, times.execution),
    }
}

fn datetime(micros: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default()
}

fn ts(t: &DateTime<Utc>) -> String {
    if t.nanosecond() == 0 {
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
    }
}

/// A time variable's value: SQL text, and the value Jinja sees.
pub(crate) enum TimeValue {
    Text(String),
    Float(f64),
    Int(i64),
}

/// The Jinja value of a time variable: dates and timestamps are strings.
pub(crate) fn jinja(part: Part, suffix: &str, times: &TimeRange) -> TimeValue {
    let (micros, millis) = instant(part, times);
    let t = datetime(micros);
    match suffix {
        "ds" | "date" => TimeValue::Text(t.format("%Y-%m-%d").to_string()),
        "ts" | "dtntz" => TimeValue::Text(ts(&t)),
        "tstz" | "dt" => TimeValue::Text(format!("{}+00:00", ts(&t))),
        "epoch" => TimeValue::Float(millis as f64 / 1000.0),
        "millis" => TimeValue::Int(millis),
        _ => TimeValue::Int(i64::from(t.hour())),
    }
}

/// The SQL a time variable expands to.
pub(crate) fn sql(part: Part, suffix: &str, times: &TimeRange) -> String {
    let text = match jinja(part, suffix, times) {
        TimeValue::Text(s) => s,
        TimeValue::Float(f) => return super::eval::python_float(f),
        TimeValue::Int(i) => return i.to_string(),
    };
    match suffix {
        "date" => format!("CAST('{text}' AS DATE)"),
        "dt" => format!("CAST('{text}' AS TIMESTAMPTZ)"),
        "dtntz" => format!("CAST('{text}' AS TIMESTAMP)"),
        _ => format!("'{text}'"),
    }
}
