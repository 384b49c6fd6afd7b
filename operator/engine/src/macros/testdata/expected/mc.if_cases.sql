SELECT
  "src_foo"."a" AS "a",
  "src_foo"."b" AS "true_no_else",
  "src_foo"."d" AS "false_with_else",
  'in' AS "between_check",
  'member' AS "in_check",
  'both' AS "and_check"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
WHERE
  "src_foo"."a" > 0
