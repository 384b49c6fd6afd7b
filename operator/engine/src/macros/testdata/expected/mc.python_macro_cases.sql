SELECT
  "src_foo"."a" + 1 AS "a1",
  'HELLO' AS "up",
  "src_foo"."d" * 3 AS "d3",
  3 AS "typed",
  "src_foo"."a" AS "a_listed",
  "src_foo"."b" AS "b_listed",
  'cat' AS "vp",
  'loading' AS "tm"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
