SELECT
  "src_foo"."a" AS "fa",
  "src_foo"."a" AS "fa_ident",
  'foo' AS "fc_literal",
  'foo' AS "foo",
  1 AS "num",
  'dflt' AS "missing_with_default",
  2 AS "num_plus_1"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
WHERE
  "src_foo"."a" >= 0
