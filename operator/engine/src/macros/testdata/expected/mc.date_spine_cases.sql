WITH "d" AS (
  SELECT
    "_exploded"."date_day" AS "date_day"
  FROM UNNEST(CAST(GENERATE_SERIES(CAST('2024-01-01' AS DATE), CAST('2024-01-05' AS DATE), INTERVAL '1' DAY) AS DATE[])) AS "_exploded"("date_day")
), "w" AS (
  SELECT
    "_exploded"."date_week" AS "date_week"
  FROM UNNEST(CAST(GENERATE_SERIES(CAST('2024-01-03' AS DATE), CAST('2024-01-31' AS DATE), INTERVAL '1' WEEK) AS DATE[])) AS "_exploded"("date_week")
), "m" AS (
  SELECT
    "_exploded"."date_month" AS "date_month"
  FROM UNNEST(CAST(GENERATE_SERIES(CAST('2024-01-15' AS DATE), CAST('2024-04-01' AS DATE), INTERVAL '1' MONTH) AS DATE[])) AS "_exploded"("date_month")
)
SELECT
  'day' AS "k",
  "d"."date_day" AS "dt"
FROM "d" AS "d"
UNION ALL
SELECT
  'week' AS "week",
  "w"."date_week" AS "date_week"
FROM "w" AS "w"
UNION ALL
SELECT
  'month' AS "month",
  "m"."date_month" AS "date_month"
FROM "m" AS "m"
