SELECT
  2 AS "two",
  CASE WHEN "src_foo"."b" = 'car' THEN 1 ELSE 0 END AS "vehicle_car",
  CASE WHEN "src_foo"."b" = 'truck' THEN 1 ELSE 0 END AS "vehicle_truck",
  "src_foo"."a" AS "a_alias",
  MD5(COALESCE(LOWER("src_foo"."b"), '') || COALESCE(LOWER("src_foo"."c"), '')) AS "hashed",
  'bool_var true' AS "bool_branch"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
