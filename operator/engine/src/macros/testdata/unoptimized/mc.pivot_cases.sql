SELECT
  "a" AS "a",
  SUM(CASE WHEN "b" = 'x' THEN 1 ELSE 0 END) AS "x",
  SUM(CASE WHEN "b" = 'y' THEN 1 ELSE 0 END) AS "y",
  MAX(CASE WHEN "c" = 'y' THEN "d" ELSE NULL END) AS "p_y_s",
  COUNT(DISTINCT CASE WHEN "d" >= 4 THEN 1 ELSE 0 END) AS "d_4",
  COUNT(DISTINCT CASE WHEN "d" >= 5 THEN 1 ELSE 0 END) AS "d_5"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
GROUP BY
  "a"
