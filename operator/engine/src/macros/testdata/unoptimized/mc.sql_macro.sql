SELECT
  "a" AS "from_string",
  1 + 1 AS "arith",
  "a" > 0 AND "d" > 0 AS "cond_value",
  CAST("a" AS TEXT) AS "casted"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
WHERE
  "a" > 0 AND "d" > 0
