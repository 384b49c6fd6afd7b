MODEL (name mc.union_cases, kind FULL);
WITH u_all AS (@UNION(mc.src_foo, mc.src_bar)),
u_distinct AS (@UNION('distinct', mc.src_foo, mc.src_bar)),
u_true AS (@UNION(1 > 0, 'all', mc.src_foo, mc.src_bar)),
u_false AS (@UNION(1 > 2, 'all', mc.src_foo, mc.src_bar))
SELECT 'all' AS k, * FROM u_all
UNION ALL SELECT 'distinct', * FROM u_distinct
UNION ALL SELECT 'true', * FROM u_true
UNION ALL SELECT 'false', * FROM u_false
