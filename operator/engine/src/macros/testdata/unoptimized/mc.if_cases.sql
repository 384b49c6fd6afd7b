SELECT
  "a" AS "a",
  "b" AS "true_no_else",
  "d" AS "false_with_else",
  'in' AS "between_check",
  'member' AS "in_check",
  'both' AS "and_check"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
WHERE
  "a" > 0
