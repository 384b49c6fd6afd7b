MODEL (name mc.quirk_lambda_arg_in_nested_macro, kind FULL);
@DEF(inc, x -> x + 1);
SELECT
  @EACH([a, d], c -> @inc(c) AS @{c}_inc),
  @EACH([a, d], y -> @inc(y) AS @{y}_inc2),
  @EACH([a, d], y -> @inc(@y) AS @{y}_inc3)
FROM (SELECT 1 AS a, 2 AS c, 4 AS d) AS t
