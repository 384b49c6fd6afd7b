SELECT
  "a" + 1 AS "a1",
  'HELLO' AS "up",
  "d" * 3 AS "d3",
  3 AS "typed",
  "a" AS "a_listed",
  "b" AS "b_listed",
  'cat' AS "vp",
  'loading' AS "tm"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
