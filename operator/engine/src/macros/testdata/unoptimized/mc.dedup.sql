WITH "raw_data" AS (
  SELECT
    *
  FROM "macro_cases"."mc"."src_foo" AS "src_foo"
  QUALIFY
    ROW_NUMBER() OVER (PARTITION BY "a", CAST("event_date" AS DATE) ORDER BY "event_date" DESC, "b" ASC) = 1
)
SELECT
  *
FROM "raw_data" AS "raw_data"
