MODEL (name mc.nested_macros, kind FULL);
@DEF(cols, [a, d]);
@DEF(inc, x -> x + 1);
SELECT
  @EACH(@cols, c -> @inc(@c) AS @{c}_inc),
  @SAFE_ADD(@EACH(@cols, c -> c)) AS total,
  @IF(@REDUCE([1, 2], (x, y) -> x + y) = 3, 'three', 'other') AS if_reduce,
  @EACH(@FILTER(@cols, c -> c <> 'a'), c -> @SAFE_DIV(@c, 2) AS @{c}_half),
  @GENERATE_SURROGATE_KEY(@cols) AS sk_from_list
FROM mc.src_foo
