SELECT
  1 AS "int_var",
  'cat' AS "str_var",
  'dflt' AS "missing_default",
  [1, 2, 3] AS "list_var",
  'from_gateway' AS "gw_var",
  'env_default' AS "env_str",
  '"macro_cases"."mc"."jinja_vars"' AS "this_model",
  '2024-01-01' AS "start_ds",
  '2024-01-03' AS "end_ds",
  '2024-01-04' AS "execution_ds",
  '2024-01-01 00:00:00' AS "start_ts",
  1704067200.0 AS "start_epoch",
  'loading' AS "runtime_stage",
  'local' AS "gw",
  "event_date" AS "event_date"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
WHERE
  "event_date" BETWEEN '2024-01-01' AND '2024-01-03'
