SELECT
  TRUE AS "and_true_null",
  "src_foo"."a" > 0 OR "src_foo"."d" > 0 AS "or3",
  "src_foo"."a" > 0 AS "and_with_if"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
WHERE
  "src_foo"."a" > 0 AND "src_foo"."d" > 0
