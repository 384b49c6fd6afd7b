MODEL (name mc.if_cases, kind FULL);
@DEF(x, 3);
CREATE SCHEMA IF NOT EXISTS mc_side;
SELECT
  a,
  @IF(1 > 0, b) AS true_no_else,
  @IF(1 > 2, c),
  @IF(1 > 2, c, d) AS false_with_else,
  @IF(@x BETWEEN 1 AND 5, 'in', 'out') AS between_check,
  @IF('a' IN ('a', 'b'), 'member') AS in_check,
  @IF(@x = 3 AND 'a' <> 'b', 'both') AS and_check
FROM mc.src_foo
WHERE @IF(@x > 1, a > 0, a < 0);
@IF(@runtime_stage = 'evaluating', CREATE TABLE IF NOT EXISTS mc_side.if_post AS SELECT 1 AS x);
