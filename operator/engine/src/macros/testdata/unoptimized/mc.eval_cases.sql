SELECT
  6 AS "six",
  2.5 AS "div",
  8 AS "paren",
  TRUE AS "bool_val"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
