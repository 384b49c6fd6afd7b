SELECT
  "src_foo"."d" AS "fa",
  "src_foo"."d" AS "fa_ident",
  'bar' AS "fc_literal",
  'bar' AS "bar",
  2 AS "num",
  'dflt' AS "missing_with_default",
  3 AS "num_plus_1"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
WHERE
  "src_foo"."a" >= 1
