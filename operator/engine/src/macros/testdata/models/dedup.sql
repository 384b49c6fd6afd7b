MODEL (name mc.dedup, kind FULL);
WITH raw_data AS (
  @DEDUPLICATE(mc.src_foo, [a, CAST(event_date AS DATE)], ['event_date DESC', 'b ASC NULLS LAST'])
)
SELECT * FROM raw_data
