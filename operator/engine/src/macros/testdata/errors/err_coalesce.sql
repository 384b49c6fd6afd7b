MODEL (name mc.err_coalesce, kind FULL);
SELECT @COALESCE(a, 0) AS c FROM mc.src_foo
