MODEL (name mc.pivot_cases, kind FULL);
SELECT
  a,
  @PIVOT(b, ['x', 'y']),
  @PIVOT(c, ['y'], agg := 'MAX', prefix := 'p_', suffix := '_s', then_value := d, else_value := NULL),
  @PIVOT(d, [4, 5], TRUE, 'COUNT', '>=', 'd_', '', 1, 0, FALSE, TRUE) /* `distinct := TRUE` is a parse error: DISTINCT is a keyword */
FROM mc.src_foo
GROUP BY a
