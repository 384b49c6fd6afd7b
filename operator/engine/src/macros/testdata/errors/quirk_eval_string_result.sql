MODEL (name mc.quirk_eval_string_result, kind FULL);
SELECT @EVAL(UPPER('ab')) AS upper_str, @EVAL(5 + 1) AS six
