MODEL (name mc.literals_lambdas, kind FULL);
@DEF(strs, ['it''s', 'b c', '']);
@DEF(nums, [1, 2.5, -3, 1e3]);
@DEF(mixed, [1, 'a', TRUE, NULL]);
@DEF(nested, [[1, 2], [3]]);
SELECT
  @EACH(@strs, s -> s),
  @EACH(@nums, n -> n + 0),
  @EACH(@mixed, v -> v),
  @EACH(@nums, (n) -> n * 2),
  @nested AS nested,
  'literal @strs stays' AS str_with_at,
  'x_@{tup}' AS str_with_brace
FROM mc.src_foo
