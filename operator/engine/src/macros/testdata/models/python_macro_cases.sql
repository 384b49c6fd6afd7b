MODEL (name mc.python_macro_cases, kind FULL);
SELECT
  @add_one(a) AS a1,
  @upper_str('hello') AS up,
  @multiply(d, 3) AS d3,
  @typed_sum(1, 2) AS typed,
  @col_list(a, b) ,
  @var_from_python() AS vp,
  @this_model_name() AS tm
FROM mc.src_foo
