SELECT
  "src_foo"."a" AS "a",
  "src_foo"."d" AS "d"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
