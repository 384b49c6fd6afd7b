WITH "w" AS (
  SELECT
    "src_foo"."a" AS "a",
    "src_foo"."b" AS "b",
    "src_foo"."c" AS "c",
    "src_foo"."d" AS "d",
    "src_foo"."event_date" AS "event_date"
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
  "a"
LIMIT 10
