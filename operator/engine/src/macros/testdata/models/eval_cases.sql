MODEL (name mc.eval_cases, kind FULL);
@DEF(x, 1);
SELECT
  @EVAL(5 + @x) AS six,
  @EVAL(10 / 4) AS div,
  @EVAL(2 * (3 + @x)) AS paren,
  @EVAL(@x > 0) AS bool_val
FROM mc.src_foo
