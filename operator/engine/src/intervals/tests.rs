//! Interval and cron tests.
use super::*;

fn day(s: &str) -> i64 {
    parse_time(s, 0).unwrap().0
}

fn days(a: &str, b: &str) -> Interval {
    Interval::new(day(a), day(b))
}

#[test]
fn cron_aliases_map_to_sqlmesh_units() {
    let unit = |c: &str| Cron::parse(c).unwrap().interval_unit().unwrap();
    assert_eq!(unit("@daily"), IntervalUnit::Day);
    assert_eq!(unit("@hourly"), IntervalUnit::Hour);
    assert_eq!(unit("@weekly"), IntervalUnit::Day);
    assert_eq!(unit("@monthly"), IntervalUnit::Month);
    assert_eq!(unit("@yearly"), IntervalUnit::Year);
    assert_eq!(unit("*/5 * * * *"), IntervalUnit::FiveMinute);
    assert_eq!(unit("*/15 * * * *"), IntervalUnit::QuarterHour);
    assert_eq!(unit("0,30 * * * *"), IntervalUnit::HalfHour);
    assert_eq!(unit("0 6 * * *"), IntervalUnit::Day);
    assert_eq!(unit("0 */6 * * *"), IntervalUnit::Hour);
}

#[test]
fn bad_crons_are_rejected_with_the_expression() {
    let e = Cron::parse("@sometimes").unwrap_err();
    assert!(e.to_string().contains("@sometimes"), "{e}");
    assert!(Cron::parse("* * *").is_err());
    assert!(Cron::parse("61 * * * *").is_err());
    assert!(
        Cron::parse("* * * * *")
            .unwrap_err()
            .reason
            .contains("5 minutes")
    );
}

#[test]
fn complete_until_is_the_last_finished_interval() {
    let now = parse_time("2024-03-05 10:30", 0).unwrap().0;
    let daily = Cron::parse("@daily").unwrap();
    assert_eq!(format_ts(daily.complete_until(now)), "2024-03-05 00:00:00");
    let hourly = Cron::parse("@hourly").unwrap();
    assert_eq!(format_ts(hourly.complete_until(now)), "2024-03-05 10:00:00");
    let six_am = Cron::parse("0 6 * * *").unwrap();
    let early = parse_time("2024-03-05 05:00", 0).unwrap().0;
    assert_eq!(
        format_ts(six_am.complete_until(early)),
        "2024-03-04 00:00:00"
    );
    let monthly = Cron::parse("@monthly").unwrap();
    assert_eq!(
        format_ts(monthly.complete_until(now)),
        "2024-03-01 00:00:00"
    );
}

#[test]
fn missing_daily_intervals_skip_what_is_done() {
    let done = [days("2024-01-02", "2024-01-04")];
    let missing = missing_intervals(
        IntervalUnit::Day,
        &done,
        day("2024-01-01"),
        day("2024-01-06"),
        0,
    );
    assert_eq!(
        missing,
        vec![
            days("2024-01-01", "2024-01-02"),
            days("2024-01-04", "2024-01-05"),
            days("2024-01-05", "2024-01-06")
        ]
    );
}

#[test]
fn nothing_missing_means_no_work_even_with_lookback() {
    let done = [days("2024-01-01", "2024-01-10")];
    let m = missing_intervals(
        IntervalUnit::Day,
        &done,
        day("2024-01-01"),
        day("2024-01-10"),
        3,
    );
    assert!(m.is_empty());
}

#[test]
fn lookback_redoes_preceding_intervals() {
    // Done through Jan 5; Jan 6 is new. Lookback 2 also redoes Jan 4 and Jan 5.
    let done = [days("2024-01-01", "2024-01-06")];
    let m = missing_intervals(
        IntervalUnit::Day,
        &done,
        day("2024-01-01"),
        day("2024-01-07"),
        2,
    );
    assert_eq!(m.first().copied(), Some(days("2024-01-04", "2024-01-05")));
    assert_eq!(m.len(), 3);
}

#[test]
fn monthly_and_hourly_intervals_follow_calendar() {
    let m = missing_intervals(
        IntervalUnit::Month,
        &[],
        day("2024-01-15"),
        day("2024-04-10"),
        0,
    );
    let starts: Vec<String> = m.iter().map(|i| format_date(i.start)).collect();
    assert_eq!(starts, ["2024-01-01", "2024-02-01", "2024-03-01"]);
    assert_eq!(format_date(m[1].end), "2024-03-01");
    let h = missing_intervals(
        IntervalUnit::Hour,
        &[],
        day("2024-01-01"),
        day("2024-01-02"),
        0,
    );
    assert_eq!(h.len(), 24);
}

#[test]
fn batches_respect_size_and_gaps() {
    let slots: Vec<Interval> = ["01", "02", "03", "04", "05", "07", "08"]
        .iter()
        .map(|d| {
            let s = day(&format!("2024-01-{d}"));
            Interval::new(s, s + 86_400_000)
        })
        .collect();
    let b = batches(&slots, Some(2));
    let shown: Vec<String> = b.iter().map(|i| i.to_string()).collect();
    assert_eq!(
        shown,
        [
            "2024-01-01 - 2024-01-02",
            "2024-01-03 - 2024-01-04",
            "2024-01-05 - 2024-01-05",
            "2024-01-07 - 2024-01-08"
        ]
    );
    assert_eq!(batches(&slots, None).len(), 2);
}

#[test]
fn subtract_and_merge_restatements() {
    let stored = merge(vec![
        days("2024-01-01", "2024-01-03"),
        days("2024-01-03", "2024-01-10"),
    ]);
    assert_eq!(stored, vec![days("2024-01-01", "2024-01-10")]);
    let cut = subtract(&stored, days("2024-01-04", "2024-01-06"));
    assert_eq!(
        cut,
        vec![
            days("2024-01-01", "2024-01-04"),
            days("2024-01-06", "2024-01-10")
        ]
    );
}

#[test]
fn date_ends_are_inclusive() {
    assert_eq!(
        format_date(parse_end("2024-01-03", 0).unwrap()),
        "2024-01-04"
    );
    assert_eq!(
        format_ts(parse_end("2024-01-03 12:00", 0).unwrap()),
        "2024-01-03 12:00:00"
    );
    assert!(parse_time("Jan 3rd", 0).unwrap_err().contains("Jan 3rd"));
    // SQLMesh projects write starts with a UTC offset.
    let utc = parse_time("2022-06-01 00:00:00", 0).unwrap().0;
    assert_eq!(parse_time("2022-06-01 00:00:00+00:00", 0).unwrap().0, utc);
    assert_eq!(parse_time("2022-06-01T00:00:00Z", 0).unwrap().0, utc);
    assert_eq!(
        parse_time("2022-06-01 02:00:00+02:00", 0).unwrap().0,
        utc,
        "an offset is converted to UTC"
    );
}

#[test]
fn a_text_time_column_is_compared_in_its_own_format() {
    let day = parse_time("2023-10-01", 0).unwrap().0;
    assert_eq!(format_boundary_as(day, None), "2023-10-01");
    assert_eq!(format_boundary_as(day, Some("%Y%m%d")), "20231001");
    assert_eq!(
        format_boundary_as(day, Some("%d/%m/%Y %H")),
        "01/10/2023 00"
    );
    // Not a directive: written as it is, as strftime (and so SQLMesh) does.
    assert_eq!(format_boundary_as(day, Some("YYYY-MM-dd")), "YYYY-MM-dd");
    assert!(check_time_format("%Y-%Q").is_err());
}
