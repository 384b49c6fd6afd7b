SELECT
  CASE WHEN "src_foo"."d" = 4 THEN 1 ELSE 0 END AS "col_4",
  CASE WHEN "src_foo"."d" = 5 THEN 1 ELSE 0 END AS "col_5",
  CASE WHEN "src_foo"."d" = 6 THEN 1 ELSE 0 END AS "col_6",
  CASE WHEN "src_foo"."b" = '4' THEN 1 ELSE 0 END AS "q_4",
  CASE WHEN "src_foo"."b" = '5' THEN 1 ELSE 0 END AS "q_5",
  SUM(CASE WHEN "src_foo"."b" = 'credit_card' THEN "src_foo"."a" ELSE 0 END) AS "amount_credit_card",
  SUM(CASE WHEN "src_foo"."b" = 'coupon' THEN "src_foo"."a" ELSE 0 END) AS "amount_coupon",
  1 AS "credit_card_flag",
  1 AS "coupon_flag",
  "src_foo"."a" AS "a_copy",
  "src_foo"."b" AS "b_copy"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
WHERE
  "src_foo"."a" > 0 OR "src_foo"."d" > 0
GROUP BY
  "src_foo"."a",
  "src_foo"."b",
  "src_foo"."d"
