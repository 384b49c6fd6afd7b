MODEL (name mc.err_eval_concat, kind FULL);
SELECT @EVAL('a' || 'b') AS s
