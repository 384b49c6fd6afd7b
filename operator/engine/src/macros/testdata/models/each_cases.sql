MODEL (name mc.each_cases, kind FULL);
@DEF(methods, ['credit_card', 'coupon']);
SELECT
  @EACH([4, 5, 6], x -> CASE WHEN d = x THEN 1 ELSE 0 END AS col_@x),
  @EACH(['4', '5'], x -> CASE WHEN b = x THEN 1 ELSE 0 END AS q_@x),
  @EACH(@methods, m -> SUM(CASE WHEN b = m THEN a ELSE 0 END) AS amount_@m),
  @EACH(@methods, m -> 1 AS @{m}_flag),
  @EACH([a, b], c -> c AS @{c}_copy)
FROM mc.src_foo
WHERE @REDUCE(@EACH([a, d], x -> x > 0), (l, r) -> l OR r)
GROUP BY a, b, d
