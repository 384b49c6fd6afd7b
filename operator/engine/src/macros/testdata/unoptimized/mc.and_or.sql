SELECT
  TRUE AS "and_true_null",
  "a" > 0 OR "d" > 0 AS "or3",
  "a" > 0 AS "and_with_if"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
WHERE
  "a" > 0 AND "d" > 0
