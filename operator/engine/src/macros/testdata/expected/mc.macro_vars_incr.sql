SELECT
  "src_foo"."a" AS "a",
  "src_foo"."event_date" AS "event_date",
  '2024-01-01' AS "start_ds",
  '2024-01-03' AS "end_ds",
  '2024-01-04' AS "execution_ds",
  CAST('2024-01-01' AS DATE) AS "start_date",
  CAST('2024-01-03' AS DATE) AS "end_date",
  '2024-01-01 00:00:00' AS "start_ts",
  '2024-01-03 23:59:59.999999' AS "end_ts",
  '2024-01-04 00:00:00' AS "execution_ts",
  '2024-01-01 00:00:00+00:00' AS "start_tstz",
  '2024-01-03 23:59:59.999999+00:00' AS "end_tstz",
  CAST('2024-01-01 00:00:00+00:00' AS TIMESTAMPTZ) AS "start_dt",
  CAST('2024-01-03 23:59:59.999999+00:00' AS TIMESTAMPTZ) AS "end_dt",
  CAST('2024-01-01 00:00:00' AS TIMESTAMP) AS "start_dtntz",
  CAST('2024-01-03 23:59:59.999999' AS TIMESTAMP) AS "end_dtntz",
  1704067200.0 AS "start_epoch",
  1704326399.999 AS "end_epoch",
  0 AS "start_hour",
  23 AS "end_hour",
  '@this_model' AS "in_string"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
WHERE
  "src_foo"."event_date" <= CAST('2024-01-03' AS DATE)
  AND "src_foo"."event_date" >= CAST('2024-01-01' AS DATE)
