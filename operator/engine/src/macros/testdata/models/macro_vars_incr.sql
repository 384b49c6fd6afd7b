MODEL (
  name mc.macro_vars_incr,
  kind INCREMENTAL_BY_TIME_RANGE (time_column event_date),
  cron '@daily'
);
SELECT
  a,
  event_date,
  @start_ds AS start_ds, @end_ds AS end_ds, @execution_ds AS execution_ds,
  @start_date AS start_date, @end_date AS end_date,
  @start_ts AS start_ts, @end_ts AS end_ts, @execution_ts AS execution_ts,
  @start_tstz AS start_tstz, @end_tstz AS end_tstz,
  @start_dt AS start_dt, @end_dt AS end_dt,
  @start_dtntz AS start_dtntz, @end_dtntz AS end_dtntz,
  @start_epoch AS start_epoch, @end_epoch AS end_epoch,

  @start_hour AS start_hour, @end_hour AS end_hour,
  '@this_model' AS in_string
FROM mc.src_foo
WHERE event_date BETWEEN @start_date AND @end_date
