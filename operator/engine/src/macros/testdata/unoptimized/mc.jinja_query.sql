SELECT
  2 AS "two",
  CASE WHEN "b" = 'car' THEN 1 ELSE 0 END AS "vehicle_car",
  CASE WHEN "b" = 'truck' THEN 1 ELSE 0 END AS "vehicle_truck",
  "a" AS "a_alias",
  MD5(COALESCE(LOWER("b"), '') || COALESCE(LOWER("c"), '')) AS "hashed",
  'bool_var true' AS "bool_branch"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
