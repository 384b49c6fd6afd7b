MODEL (name mc.var_cases, kind FULL);
SELECT
  @int_var AS int_direct,
  @VAR('int_var') AS int_fn,
  @VAR('float_var') AS float_fn,
  @VAR('bool_var') AS bool_fn,
  @VAR('str_var') AS str_fn,
  1 AS @{str_var},
  @VAR('list_var') AS list_fn,
  @VAR('missing_var', 0) AS missing_default,
  @VAR('missing_var') AS missing_no_default,
  @VAR('gw_only_var') AS gateway_var,
  @VAR('overridden_var') AS overridden,
  @VAR('env_str') AS env_str,
  @VAR('jinja_expr') AS jinja_expr,
  @EACH(@VAR('list_var'), x -> x * 10 AS times_@x)
FROM mc.src_foo
WHERE a IN @list_var
