MODEL (name mc.quirk_each_in_is_not_null, kind FULL);
SELECT a FROM (SELECT 1 AS a, 2 AS d) AS t
WHERE @EACH([a, d], x -> x > 0) IS NOT NULL
