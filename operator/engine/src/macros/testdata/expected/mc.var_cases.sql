SELECT
  1 AS "int_direct",
  1 AS "int_fn",
  2.5 AS "float_fn",
  TRUE AS "bool_fn",
  'cat' AS "str_fn",
  1 AS "cat",
  [1, 2, 3] AS "list_fn",
  0 AS "missing_default",
  NULL AS "missing_no_default",
  'from_gateway' AS "gateway_var",
  'gateway_value' AS "overridden",
  'env_default' AS "env_str",
  '3' AS "jinja_expr",
  10 AS "times_1",
  20 AS "times_2",
  30 AS "times_3"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
WHERE
  "src_foo"."a" IN (1, 2, 3)
