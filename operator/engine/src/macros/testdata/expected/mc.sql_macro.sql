SELECT
  "src_foo"."a" AS "from_string",
  2 AS "arith",
  "src_foo"."a" > 0 AND "src_foo"."d" > 0 AS "cond_value",
  CAST("src_foo"."a" AS TEXT) AS "casted"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
WHERE
  "src_foo"."a" > 0 AND "src_foo"."d" > 0
