MODEL (name mc.def_lambda, kind FULL);
@DEF(double, x -> x * 2);
@DEF(pythag, (x, y) -> SQRT(POW(x, 2) + POW(y, 2)));
@DEF(area, r -> PI() * r * r);
@DEF(container_volume, (r, h) -> @area(@r) * h);
@DEF(rank_to_int, x -> CASE WHEN LEFT(x, 1) = 'A' THEN 1 WHEN LEFT(x, 1) = 'B' THEN 2 END);
SELECT
  @double(a) AS a2,
  @double(a + 1) AS a_plus_1_doubled,
  @pythag(a, d) AS hyp,
  @container_volume((d / 2), a) AS volume,
  @rank_to_int(b) AS rank_int
FROM mc.src_foo
