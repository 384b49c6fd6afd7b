MODEL (name mc.clause_ops, kind FULL);
@DEF(flag_on, TRUE);
@DEF(flag_off, FALSE);
@WITH(@flag_on) w AS (SELECT * FROM mc.src_foo)
SELECT w.a, SUM(w.d) AS sd
FROM w
@JOIN(@flag_on) mc.src_bar AS r ON r.a = w.a
@JOIN(@flag_off) mc.src_bar AS r2 ON r2.a = w.a
@WHERE(@flag_on) w.a > 0
@GROUP_BY(@flag_on) w.a
@HAVING(@flag_off) SUM(w.d) > 100
@ORDER_BY(@flag_on) w.a
@LIMIT(@flag_on) 10
