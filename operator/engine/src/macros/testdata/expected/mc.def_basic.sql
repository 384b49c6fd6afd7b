SELECT
  1 AS "one",
  'abc' AS "s_literal",
  1 AS "abc",
  -2.5 AS "neg",
  TRUE AS "flag",
  NULL AS "nothing",
  ["src_foo"."b", "src_foo"."c"] AS "cols",
  1 AS "col_1",
  2 AS "abc_col"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
