SELECT
  "a" AS "a",
  "d" AS "d"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
