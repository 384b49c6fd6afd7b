//! Time intervals, cron granularity and missing-interval math (SQLMesh's semantics).
//!
//! A model's cron decides its *interval unit* (the smallest gap between two cron ticks, rounded
//! down to year, month, day, hour, half hour, quarter hour or five minutes). Intervals are
//! aligned to that unit; a plan backfills exactly the unit-sized intervals missing between the
//! model's start and the last complete cron tick.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};

/// A half-open time range `[start, end)` in milliseconds since the epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Interval {
    pub start: i64,
    pub end: i64,
}

impl Interval {
    pub fn new(start: i64, end: i64) -> Interval {
        Interval { start, end }
    }
}

impl fmt::Display for Interval {
    /// Inclusive display like SQLMesh's plan summary: `2024-01-01 - 2024-01-03` for
    /// `[2024-01-01, 2024-01-04)` at day granularity.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let date_only = is_midnight(self.start) && is_midnight(self.end);
        if date_only {
            write!(
                f,
                "{} - {}",
                format_date(self.start),
                format_date(self.end - 1)
            )
        } else {
            write!(f, "{} - {}", format_ts(self.start), format_ts(self.end))
        }
    }
}

/// The granularity of a model's intervals, derived from its cron.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum IntervalUnit {
    FiveMinute,
    QuarterHour,
    HalfHour,
    Hour,
    Day,
    Month,
    Year,
}

impl IntervalUnit {
    /// Nominal length in seconds, used to map a cron's tick gap onto a unit.
    fn nominal_seconds(self) -> i64 {
        match self {
            IntervalUnit::Year => 365 * 86_400,
            IntervalUnit::Month => 28 * 86_400,
            IntervalUnit::Day => 86_400,
            IntervalUnit::Hour => 3_600,
            IntervalUnit::HalfHour => 1_800,
            IntervalUnit::QuarterHour => 900,
            IntervalUnit::FiveMinute => 300,
        }
    }

    /// Whether intervals of this unit are whole days (rendered as dates).
    pub fn is_date_granularity(self) -> bool {
        matches!(
            self,
            IntervalUnit::Day | IntervalUnit::Month | IntervalUnit::Year
        )
    }

    /// The start of the unit-sized interval containing `ms`.
    pub fn floor(self, ms: i64) -> i64 {
        let t = to_datetime(ms);
        let floored = match self {
            IntervalUnit::Year => ymd(t.year(), 1, 1),
            IntervalUnit::Month => ymd(t.year(), t.month(), 1),
            IntervalUnit::Day => ymd(t.year(), t.month(), t.day()),
            minute_units => {
                let step = match minute_units {
                    IntervalUnit::Hour => 60,
                    IntervalUnit::HalfHour => 30,
                    IntervalUnit::QuarterHour => 15,
                    _ => 5,
                };
                let day = ymd(t.year(), t.month(), t.day());
                day + Duration::minutes((t.hour() * 60 + t.minute()) as i64 / step * step)
            }
        };
        floored.timestamp_millis()
    }

    /// The start of the next interval after the one starting at `ms` (which must be aligned).
    pub fn next(self, ms: i64) -> i64 {
        let t = to_datetime(ms);
        let next = match self {
            IntervalUnit::Year => ymd(t.year() + 1, 1, 1),
            IntervalUnit::Month if t.month() == 12 => ymd(t.year() + 1, 1, 1),
            IntervalUnit::Month => ymd(t.year(), t.month() + 1, 1),
            IntervalUnit::Day => t + Duration::days(1),
            IntervalUnit::Hour => t + Duration::hours(1),
            IntervalUnit::HalfHour => t + Duration::minutes(30),
            IntervalUnit::QuarterHour => t + Duration::minutes(15),
            IntervalUnit::FiveMinute => t + Duration::minutes(5),
        };
        next.timestamp_millis()
    }

    /// The aligned interval boundaries from `start` (floored) up to `end` (floored).
    pub fn boundaries(self, start: i64, end: i64) -> Vec<i64> {
        let mut out = Vec::new();
        let end = self.floor(end);
        let mut t = self.floor(start);
        while t <= end {
            out.push(t);
            t = self.next(t);
        }
        out
    }
}

/// A parsed cron schedule: an alias (`@daily`) or five fields (minute hour day month weekday).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    expr: String,
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Vec<bool>,
    months: Vec<bool>,
    weekdays: Vec<bool>,
    /// Classic cron: when both day-of-month and weekday are restricted, either may match.
    day_or_weekday: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron {expr:?}: {reason}")]
pub struct CronError {
    pub expr: String,
    pub reason: String,
}

impl Cron {
    pub fn parse(expr: &str) -> Result<Cron, CronError> {
        let err = |reason: &str| CronError {
            expr: expr.to_string(),
            reason: reason.into(),
        };
        let expanded = match expr.trim().to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *".to_string(),
            "@monthly" => "0 0 1 * *".to_string(),
            "@weekly" => "0 0 * * 0".to_string(),
            "@daily" | "@midnight" => "0 0 * * *".to_string(),
            "@hourly" => "0 * * * *".to_string(),
            other if other.starts_with('@') => return Err(err("unknown alias")),
            other => other.to_string(),
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(err("expected an alias like @daily or five fields"));
        }
        let parse =
            |i: usize, min: u32, max: u32| parse_field(fields[i], min, max).map_err(|r| err(&r));
        let cron = Cron {
            expr: expr.to_string(),
            minutes: parse(0, 0, 59)?,
            hours: parse(1, 0, 23)?,
            days: parse(2, 1, 31)?,
            months: parse(3, 1, 12)?,
            weekdays: parse_field(&fields[4].replace('7', "0"), 0, 6).map_err(|r| err(&r))?,
            day_or_weekday: fields[2] != "*" && fields[4] != "*",
        };
        let unit = cron.interval_unit();
        if unit.is_none() {
            return Err(err(
                "must run at most every 5 minutes and at least once a year",
            ));
        }
        Ok(cron)
    }

    pub fn as_str(&self) -> &str {
        &self.expr
    }

    fn matches(&self, t: &NaiveDateTime) -> bool {
        let day_ok = self.days[t.day() as usize - 1];
        let weekday_ok = self.weekdays[t.weekday().num_days_from_sunday() as usize];
        let date_ok = if self.day_or_weekday {
            day_ok || weekday_ok
        } else {
            day_ok && weekday_ok
        };
        self.minutes[t.minute() as usize]
            && self.hours[t.hour() as usize]
            && self.months[t.month() as usize - 1]
            && date_ok
    }

    /// The first tick strictly after `ms`, searching at most ~4 years.
    pub fn next_tick(&self, ms: i64) -> Option<i64> {
        let mut t = to_datetime(IntervalUnit::FiveMinute.floor(ms)).naive_utc();
        t = t.with_second(0)?.with_nanosecond(0)?;
        // Align to the minute after `ms`.
        let t0 = to_datetime(ms).naive_utc();
        while t <= t0 {
            t += Duration::minutes(1);
        }
        self.scan(t, Duration::minutes(1))
    }

    /// The last tick at or before `ms`.
    pub fn prev_tick(&self, ms: i64) -> Option<i64> {
        let t = to_datetime(ms)
            .naive_utc()
            .with_second(0)?
            .with_nanosecond(0)?;
        self.scan(t, Duration::minutes(-1))
    }

    /// Walks minute by minute, skipping whole hours and days that cannot match.
    fn scan(&self, mut t: NaiveDateTime, step: Duration) -> Option<i64> {
        let limit = 4 * 366 * 24 * 60;
        let mut steps = 0;
        while steps < limit {
            if self.matches(&t) {
                return Some(t.and_utc().timestamp_millis());
            }
            t += step;
            steps += 1;
        }
        None
    }

    /// The unit whose nominal length is the largest not exceeding the smallest gap between
    /// consecutive ticks (SQLMesh's `IntervalUnit.from_cron`).
    pub fn interval_unit(&self) -> Option<IntervalUnit> {
        // Sample ticks from a fixed reference so the answer never depends on "now".
        let mut t = Utc
            .with_ymd_and_hms(2023, 1, 1, 0, 0, 0)
            .single()?
            .timestamp_millis()
            - 1;
        let mut ticks = Vec::new();
        for _ in 0..6 {
            t = self.next_tick(t)?;
            ticks.push(t);
        }
        let gap = ticks.windows(2).map(|w| (w[1] - w[0]) / 1000).min()?;
        [
            IntervalUnit::Year,
            IntervalUnit::Month,
            IntervalUnit::Day,
            IntervalUnit::Hour,
            IntervalUnit::HalfHour,
            IntervalUnit::QuarterHour,
            IntervalUnit::FiveMinute,
        ]
        .into_iter()
        .find(|u| u.nominal_seconds() <= gap)
    }

    /// The end of the last complete interval as of `now`: the latest cron tick, floored to
    /// the interval unit.
    pub fn complete_until(&self, now: i64) -> i64 {
        let unit = self.interval_unit().unwrap_or(IntervalUnit::Day);
        let tick = self.prev_tick(now).unwrap_or(now);
        unit.floor(tick)
    }
}

fn parse_field(field: &str, min: u32, max: u32) -> Result<Vec<bool>, String> {
    let mut set = vec![false; (max - min + 1) as usize];
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .map_err(|_| format!("bad step in {part:?}"))?,
            ),
            None => (part, 1),
        };
        if step == 0 {
            return Err(format!("zero step in {part:?}"));
        }
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (num(a, min, max)?, num(b, min, max)?)
        } else {
            let v = num(range, min, max)?;
            (v, if part.contains('/') { max } else { v })
        };
        let mut v = lo;
        while v <= hi {
            set[(v - min) as usize] = true;
            v += step;
        }
    }
    Ok(set)
}

fn num(s: &str, min: u32, max: u32) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number from {min} to {max}")),
    }
}

fn ymd(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
        .single()
        .expect("valid date")
}

pub fn to_datetime(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

fn is_midnight(ms: i64) -> bool {
    ms.rem_euclid(86_400_000) == 0
}

/// `YYYY-MM-DD` of the instant.
pub fn format_date(ms: i64) -> String {
    to_datetime(ms).format("%Y-%m-%d").to_string()
}

/// `YYYY-MM-DD HH:MM:SS` of the instant.
pub fn format_ts(ms: i64) -> String {
    to_datetime(ms).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A batch boundary as a model's time column holds it: in its `time_format` when it has one
/// (text a format has no directive for is kept as written, as strftime does), else as
/// [`format_boundary`].
pub fn format_boundary_as(ms: i64, time_format: Option<&str>) -> String {
    match time_format {
        Some(format) if check_time_format(format).is_ok() => {
            to_datetime(ms).format(format).to_string()
        }
        _ => format_boundary(ms),
    }
}

/// Whether `format` is a strftime format chrono can write; the error names the bad directive.
pub fn check_time_format(format: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        return Err(format!(
            "'{format}' is not a strftime time format (such as '%Y-%m-%d')"
        ));
    }
    Ok(())
}

/// A boundary for JSON and logs: a date when it is midnight, else a timestamp.
pub fn format_boundary(ms: i64) -> String {
    if is_midnight(ms) {
        format_date(ms)
    } else {
        format_ts(ms)
    }
}

/// Parses a user-supplied time: `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]` (with or without a UTC
/// offset), `now`, `today`, `yesterday`. Returns epoch milliseconds and whether it was a bare date (SQLMesh treats a
/// date *end* as inclusive of that whole day).
pub fn parse_time(s: &str, now: i64) -> Result<(i64, bool), String> {
    let s = s.trim();
    let today = IntervalUnit::Day.floor(now);
    match s.to_ascii_lowercase().as_str() {
        "now" => return Ok((now, false)),
        "today" => return Ok((today, true)),
        "yesterday" => return Ok((today - 86_400_000, true)),
        _ => {}
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok((
            d.and_hms_opt(0, 0, 0)
                .expect("midnight")
                .and_utc()
                .timestamp_millis(),
            true,
        ));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok((t.and_utc().timestamp_millis(), false));
        }
    }
    // With a UTC offset (`2022-06-01 00:00:00+00:00`, `...Z`), as SQLMesh projects write them.
    let iso = s.replacen(' ', "T", 1).replace('Z', "+00:00");
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&iso) {
        return Ok((t.timestamp_millis(), false));
    }
    Err(format!(
        "cannot read {s:?} as a date (YYYY-MM-DD), a time (YYYY-MM-DD HH:MM:SS, optionally with a \
         UTC offset), now, today or yesterday"
    ))
}

/// A duration as people write it: `7d`, `12h`, `30m`, `2w`, `3600` (seconds) → seconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let invalid = || format!("invalid duration {s:?} (use e.g. 7d, 12h, 30m)");
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = digits.parse().map_err(|_| invalid())?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(invalid()),
    };
    n.checked_mul(factor).ok_or_else(invalid)
}

/// A short duration, in milliseconds: `500ms`, or anything [`parse_duration`] reads.
pub fn parse_duration_ms(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let ms = match t.strip_suffix("ms") {
        Some(digits) => digits
            .parse::<i64>()
            .map_err(|_| format!("invalid duration {t:?} (use e.g. 500ms, 2s, 10m)"))?,
        None => parse_duration(t)?.saturating_mul(1000),
    };
    u64::try_from(ms).map_err(|_| format!("invalid duration {t:?}: it cannot be negative"))
}

/// Parses an *end*: a bare date includes that whole day.
pub fn parse_end(s: &str, now: i64) -> Result<i64, String> {
    let (ms, is_date) = parse_time(s, now)?;
    Ok(if is_date { ms + 86_400_000 } else { ms })
}

/// Merges overlapping and adjacent intervals into a sorted minimal list.
pub fn merge(mut intervals: Vec<Interval>) -> Vec<Interval> {
    intervals.sort();
    let mut out: Vec<Interval> = Vec::with_capacity(intervals.len());
    for i in intervals {
        match out.last_mut() {
            Some(last) if i.start <= last.end => last.end = last.end.max(i.end),
            _ => out.push(i),
        }
    }
    out
}

/// Removes `cut` from `intervals` (restatement), splitting where needed.
pub fn subtract(intervals: &[Interval], cut: Interval) -> Vec<Interval> {
    let mut out = Vec::new();
    for i in intervals {
        if i.end <= cut.start || i.start >= cut.end {
            out.push(*i);
            continue;
        }
        if i.start < cut.start {
            out.push(Interval::new(i.start, cut.start));
        }
        if i.end > cut.end {
            out.push(Interval::new(cut.end, i.end));
        }
    }
    out
}

/// The unit-sized intervals in `[start, end)` not covered by `done`, widened by `lookback`
/// units the way SQLMesh does: when anything is missing, an interval is redone if the one
/// `lookback` units after it is missing, and the last `lookback` intervals are always redone.
pub fn missing_intervals(
    unit: IntervalUnit,
    done: &[Interval],
    start: i64,
    end: i64,
    lookback: u32,
) -> Vec<Interval> {
    let bounds = unit.boundaries(start, end);
    let slots: Vec<Interval> = bounds
        .windows(2)
        .map(|w| Interval::new(w[0], w[1]))
        .collect();
    let done = merge(done.to_vec());
    let covered = |slot: &Interval| {
        done.iter()
            .any(|d| d.start <= slot.start && slot.end <= d.end)
    };
    let missing: Vec<bool> = slots.iter().map(|s| !covered(s)).collect();
    if !missing.iter().any(|m| *m) {
        return Vec::new();
    }
    let lookback = lookback as usize;
    slots
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            let later = i + lookback;
            missing[*i] || (lookback > 0 && (later >= slots.len() || missing[later]))
        })
        .map(|(_, s)| *s)
        .collect()
}

/// Groups sorted unit intervals into batches of at most `batch_size` units, never spanning a
/// gap (so a batch only overwrites what it recomputes). `None` = one batch per contiguous run.
pub fn batches(intervals: &[Interval], batch_size: Option<u32>) -> Vec<Interval> {
    let limit = batch_size
        .filter(|b| *b > 0)
        .map(|b| b as usize)
        .unwrap_or(usize::MAX);
    let mut out: Vec<Interval> = Vec::new();
    let mut count = 0;
    for i in intervals {
        match out.last_mut() {
            Some(last) if last.end == i.start && count < limit => {
                last.end = i.end;
                count += 1;
            }
            _ => {
                out.push(*i);
                count = 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
