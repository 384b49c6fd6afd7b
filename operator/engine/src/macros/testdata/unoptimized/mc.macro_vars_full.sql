/* FULL and VIEW kinds only get execution_* temporal variables: start_X / end_X are undefined (load error) */
SELECT
  '2024-01-04' AS "execution_ds",
  CAST('2024-01-04' AS DATE) AS "execution_date",
  '2024-01-04 00:00:00' AS "execution_ts",
  '2024-01-04 00:00:00+00:00' AS "execution_tstz",
  CAST('2024-01-04 00:00:00+00:00' AS TIMESTAMPTZ) AS "execution_dt",
  CAST('2024-01-04 00:00:00' AS TIMESTAMP) AS "execution_dtntz",
  1704326400.0 AS "execution_epoch",
  0 AS "execution_hour",
  '2024-01-04' AS "latest_ds",
  'local' AS "gateway",
  'loading' AS "runtime_stage"
