WITH "u_all" AS (
  SELECT
    CAST("a" AS INT) AS "a",
    CAST("c" AS TEXT) AS "c"
  FROM "macro_cases"."mc"."src_foo" AS "src_foo"
  UNION ALL
  SELECT
    CAST("a" AS INT) AS "a",
    CAST("c" AS TEXT) AS "c"
  FROM "macro_cases"."mc"."src_bar" AS "src_bar"
), "u_distinct" AS (
  SELECT
    CAST("a" AS INT) AS "a",
    CAST("c" AS TEXT) AS "c"
  FROM "macro_cases"."mc"."src_foo" AS "src_foo"
  UNION
  SELECT
    CAST("a" AS INT) AS "a",
    CAST("c" AS TEXT) AS "c"
  FROM "macro_cases"."mc"."src_bar" AS "src_bar"
), "u_true" AS (
  SELECT
    CAST("a" AS INT) AS "a",
    CAST("c" AS TEXT) AS "c"
  FROM "macro_cases"."mc"."src_foo" AS "src_foo"
  UNION ALL
  SELECT
    CAST("a" AS INT) AS "a",
    CAST("c" AS TEXT) AS "c"
  FROM "macro_cases"."mc"."src_bar" AS "src_bar"
), "u_false" AS (
  SELECT
    CAST("a" AS INT) AS "a",
    CAST("c" AS TEXT) AS "c"
  FROM "macro_cases"."mc"."src_foo" AS "src_foo"
)
SELECT
  'all' AS "k",
  *
FROM "u_all" AS "u_all"
UNION ALL
SELECT
  'distinct',
  *
FROM "u_distinct" AS "u_distinct"
UNION ALL
SELECT
  'true',
  *
FROM "u_true" AS "u_true"
UNION ALL
SELECT
  'false',
  *
FROM "u_false" AS "u_false"
