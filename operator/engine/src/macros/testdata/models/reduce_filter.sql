MODEL (name mc.reduce_filter, kind FULL);
SELECT
  @REDUCE([1, 2, 3, 4], (x, y) -> x + y) AS reduced_sum,
  @REDUCE(@FILTER([1, 2, 3], x -> x > 1), (x, y) -> x * y) AS filtered_product,
  @EACH(@FILTER([a, b, c, d], x -> x <> 'c'), col -> col)
FROM mc.src_foo
WHERE @REDUCE(@EACH([a, d], x -> x = 1), (x, y) -> x AND y)
