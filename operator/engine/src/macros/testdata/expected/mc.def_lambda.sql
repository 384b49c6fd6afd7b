SELECT
  "src_foo"."a" * 2 AS "a2",
  "src_foo"."a" + 2 AS "a_plus_1_doubled",
  SQRT(POWER("src_foo"."a", 2) + POWER("src_foo"."d", 2)) AS "hyp",
  PI() * (
    "src_foo"."d" / 2
  ) * (
    "src_foo"."d" / 2
  ) * "src_foo"."a" AS "volume",
  CASE
    WHEN LEFT("src_foo"."b", 1) = 'A'
    THEN 1
    WHEN LEFT("src_foo"."b", 1) = 'B'
    THEN 2
  END AS "rank_int"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
