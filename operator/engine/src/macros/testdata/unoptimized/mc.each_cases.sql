SELECT
  CASE WHEN "d" = 4 THEN 1 ELSE 0 END AS "col_4",
  CASE WHEN "d" = 5 THEN 1 ELSE 0 END AS "col_5",
  CASE WHEN "d" = 6 THEN 1 ELSE 0 END AS "col_6",
  CASE WHEN "b" = '4' THEN 1 ELSE 0 END AS "q_4",
  CASE WHEN "b" = '5' THEN 1 ELSE 0 END AS "q_5",
  SUM(CASE WHEN "b" = 'credit_card' THEN "a" ELSE 0 END) AS "amount_credit_card",
  SUM(CASE WHEN "b" = 'coupon' THEN "a" ELSE 0 END) AS "amount_coupon",
  1 AS "credit_card_flag",
  1 AS "coupon_flag",
  "a" AS "a_copy",
  "b" AS "b_copy"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
WHERE
  "a" > 0 OR "d" > 0
GROUP BY
  "a",
  "b",
  "d"
