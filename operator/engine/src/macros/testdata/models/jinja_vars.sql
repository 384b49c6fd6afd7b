MODEL (
  name mc.jinja_vars,
  kind INCREMENTAL_BY_TIME_RANGE (time_column event_date),
  cron '@daily'
);
JINJA_QUERY_BEGIN;
SELECT
  {{ var('int_var') }} AS int_var,
  '{{ var('str_var') }}' AS str_var,
  '{{ var('missing_var', 'dflt') }}' AS missing_default,
  {{ var('list_var') }} AS list_var,
  '{{ var('gw_only_var') }}' AS gw_var,
  '{{ var('env_str') }}' AS env_str,
  '{{ this_model }}' AS this_model,
  '{{ start_ds }}' AS start_ds,
  '{{ end_ds }}' AS end_ds,
  '{{ execution_ds }}' AS execution_ds,
  '{{ start_ts }}' AS start_ts,
  {{ start_epoch }} AS start_epoch,
  '{{ runtime_stage }}' AS runtime_stage,
  '{{ gateway() }}' AS gw,
  event_date
FROM mc.src_foo
WHERE event_date BETWEEN '{{ start_ds }}' AND @end_ds
JINJA_END;
