MODEL (
  name mc.mixed_jinja_sqlmesh,
  kind INCREMENTAL_BY_TIME_RANGE (time_column event_date),
  cron '@daily'
);
@DEF(k, 7);
JINJA_QUERY_BEGIN;
SELECT
  {{ 2 * 3 }} AS jinja_six,
  @k AS sqlmesh_def_var,
  @EACH([1, 2], x -> x AS c_@x),
  '{{ start_ds }}' AS jinja_start,
  @start_ds AS sqlmesh_start,
  event_date
FROM mc.src_foo
WHERE event_date BETWEEN @start_date AND @end_date
JINJA_END;
