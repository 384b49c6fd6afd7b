MODEL (name mc.safe_math, kind FULL);
SELECT
  @SAFE_ADD(a, d) AS add2,
  @SAFE_ADD(a, d, NULL) AS add3,
  @SAFE_SUB(d, a) AS sub2,
  @SAFE_SUB(d, a, a) AS sub3,
  @SAFE_DIV(d, a) AS div,
  @SAFE_DIV(d, 0) AS div_zero
FROM mc.src_foo
