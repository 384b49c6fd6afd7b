SELECT
  "a" AS "picked",
  'dflt' AS "missing"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
