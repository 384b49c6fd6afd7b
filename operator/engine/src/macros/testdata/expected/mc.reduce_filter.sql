SELECT
  10 AS "reduced_sum",
  6 AS "filtered_product",
  "src_foo"."a" AS "a",
  "src_foo"."b" AS "b",
  "src_foo"."c" AS "c",
  "src_foo"."d" AS "d"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
WHERE
  "src_foo"."a" = 1 AND "src_foo"."d" = 1
