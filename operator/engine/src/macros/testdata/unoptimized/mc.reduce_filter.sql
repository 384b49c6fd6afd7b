SELECT
  1 + 2 + 3 + 4 AS "reduced_sum",
  2 * 3 AS "filtered_product",
  "a" AS "a",
  "b" AS "b",
  "c" AS "c",
  "d" AS "d"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
WHERE
  "a" = 1 AND "d" = 1
