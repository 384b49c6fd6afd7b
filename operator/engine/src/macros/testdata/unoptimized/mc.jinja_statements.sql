SELECT
  "a" AS "a",
  'cat' AS "sqlmesh_macro_in_plain_query"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
