SELECT
  "src_foo"."d" AS "picked",
  'dflt' AS "missing"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
