MODEL (name mc.star_cases, kind FULL);
SELECT
  @STAR(mc.src_foo, f),
  @STAR(mc.src_foo, f, [c], 'baz_', '_qux'),
  @STAR(mc.src_foo, f, exclude := [a, b, c, event_date], prefix := 'd_pre_'),
  @STAR(mc.src_foo, f, except_ := [a, b, d, event_date], suffix := '_old'),
  @STAR(mc.src_foo, alias := f, exclude := [b, c, d, event_date], prefix := 'noquote_', quote_identifiers := FALSE),
  @STAR(mc.src_bar, alias := r)
FROM mc.src_foo AS f
CROSS JOIN mc.src_bar AS r
