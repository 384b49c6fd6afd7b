SELECT
  6 AS "jinja_six",
  7 AS "sqlmesh_def_var",
  1 AS "c_1",
  2 AS "c_2",
  '2024-01-01' AS "jinja_start",
  '2024-01-01' AS "sqlmesh_start",
  "src_foo"."event_date" AS "event_date"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
WHERE
  "src_foo"."event_date" <= CAST('2024-01-03' AS DATE)
  AND "src_foo"."event_date" >= CAST('2024-01-01' AS DATE)
