WITH "u_all" AS (
  SELECT
    CAST("src_foo"."a" AS INT) AS "a",
    CAST("src_foo"."c" AS TEXT) AS "c"
  FROM "macro_cases"."mc"."src_foo" AS "src_foo"
  UNION ALL
  SELECT
    CAST("src_bar"."a" AS INT) AS "a",
    CAST("src_bar"."c" AS TEXT) AS "c"
  FROM "macro_cases"."mc"."src_bar" AS "src_bar"
), "u_distinct" AS (
  SELECT
    CAST("src_foo"."a" AS INT) AS "a",
    CAST("src_foo"."c" AS TEXT) AS "c"
  FROM "macro_cases"."mc"."src_foo" AS "src_foo"
  UNION
  SELECT
    CAST("src_bar"."a" AS INT) AS "a",
    CAST("src_bar"."c" AS TEXT) AS "c"
  FROM "macro_cases"."mc"."src_bar" AS "src_bar"
), "u_true" AS (
  SELECT
    CAST("src_foo"."a" AS INT) AS "a",
    CAST("src_foo"."c" AS TEXT) AS "c"
  FROM "macro_cases"."mc"."src_foo" AS "src_foo"
  UNION ALL
  SELECT
    CAST("src_bar"."a" AS INT) AS "a",
    CAST("src_bar"."c" AS TEXT) AS "c"
  FROM "macro_cases"."mc"."src_bar" AS "src_bar"
), "u_false" AS (
  SELECT
    CAST("src_foo"."a" AS INT) AS "a",
    CAST("src_foo"."c" AS TEXT) AS "c"
  FROM "macro_cases"."mc"."src_foo" AS "src_foo"
)
SELECT
  'all' AS "k",
  "u_all"."a" AS "a",
  "u_all"."c" AS "c"
FROM "u_all" AS "u_all"
UNION ALL
SELECT
  'distinct' AS "distinct",
  "u_distinct"."a" AS "a",
  "u_distinct"."c" AS "c"
FROM "u_distinct" AS "u_distinct"
UNION ALL
SELECT
  'true' AS "true",
  "u_true"."a" AS "a",
  "u_true"."c" AS "c"
FROM "u_true" AS "u_true"
UNION ALL
SELECT
  'false' AS "false",
  "u_false"."a" AS "a",
  "u_false"."c" AS "c"
FROM "u_false" AS "u_false"
