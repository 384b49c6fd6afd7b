SELECT
  "a" * 2 AS "a2",
  "a" + 1 * 2 AS "a_plus_1_doubled",
  SQRT(POWER("a", 2) + POWER("d", 2)) AS "hyp",
  PI() * (
    "d" / 2
  ) * (
    "d" / 2
  ) * "a" AS "volume",
  CASE WHEN LEFT("b", 1) = 'A' THEN 1 WHEN LEFT("b", 1) = 'B' THEN 2 END AS "rank_int"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
