MODEL (name mc.sql_macro, kind FULL);
@DEF(col_name, 'a');
@DEF(cond, 'a > 0 AND d > 0');
SELECT
  @SQL(@col_name) AS from_string,
  @SQL('1 + 1') AS arith,
  @SQL(@cond) AS cond_value,
  @SQL('CAST(a AS TEXT)') AS casted
FROM @SQL('mc.src_foo', 'Table')
WHERE @SQL(@cond)
