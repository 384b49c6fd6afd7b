WITH "raw_data" AS (
  SELECT
    "src_foo"."a" AS "a",
    "src_foo"."b" AS "b",
    "src_foo"."c" AS "c",
    "src_foo"."d" AS "d",
    "src_foo"."event_date" AS "event_date"
  FROM "macro_cases"."mc"."src_foo" AS "src_foo"
  QUALIFY
    ROW_NUMBER() OVER (
      PARTITION BY "src_foo"."a", CAST("src_foo"."event_date" AS DATE)
      ORDER BY "src_foo"."event_date" DESC, "src_foo"."b" ASC
    ) = 1
)
SELECT
  "raw_data"."a" AS "a",
  "raw_data"."b" AS "b",
  "raw_data"."c" AS "c",
  "raw_data"."d" AS "d",
  "raw_data"."event_date" AS "event_date"
FROM "raw_data" AS "raw_data"
