MODEL (name mc.and_or, kind FULL);
@DEF(use_a, FALSE);
SELECT
  @AND(TRUE, NULL) AS and_true_null,
  @OR(a > 0, NULL, d > 0) AS or3,
  @AND(a > 0, @IF(@use_a, a < 10)) AS and_with_if
FROM mc.src_foo
WHERE @AND(a > 0, d > 0, NULL)
