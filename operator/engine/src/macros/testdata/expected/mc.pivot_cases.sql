SELECT
  "src_foo"."a" AS "a",
  SUM(CASE WHEN "src_foo"."b" = 'x' THEN 1 ELSE 0 END) AS "x",
  SUM(CASE WHEN "src_foo"."b" = 'y' THEN 1 ELSE 0 END) AS "y",
  MAX(CASE WHEN "src_foo"."c" = 'y' THEN "src_foo"."d" ELSE NULL END) AS "p_y_s",
  COUNT(DISTINCT CASE WHEN "src_foo"."d" >= 4 THEN 1 ELSE 0 END) AS "d_4",
  COUNT(DISTINCT CASE WHEN "src_foo"."d" >= 5 THEN 1 ELSE 0 END) AS "d_5"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
GROUP BY
  "src_foo"."a"
