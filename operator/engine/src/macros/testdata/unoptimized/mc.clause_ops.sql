WITH "w" AS (
  SELECT
    *
  FROM "macro_cases"."mc"."src_foo" AS "src_foo"
)
SELECT
  "w"."a" AS "a",
  SUM("w"."d") AS "sd"
FROM "w" AS "w"
JOIN "macro_cases"."mc"."src_bar" AS "r"
  ON "r"."a" = "w"."a"
WHERE
  "w"."a" > 0
GROUP BY
  "w"."a"
ORDER BY
  "w"."a"
LIMIT 10
