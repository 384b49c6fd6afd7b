MODEL (name mc.err_set, kind FULL);
@SET(x, 1);
SELECT 1 AS a
