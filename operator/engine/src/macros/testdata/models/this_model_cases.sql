MODEL (
  name mc.this_model_cases,
  kind FULL,
  audits (row_count_positive)
);
CREATE SCHEMA IF NOT EXISTS mc_side;
SELECT a, d FROM mc.src_foo;
-- post-statement: @this_model is the physical table while creating/evaluating
CREATE OR REPLACE TABLE mc_side.this_model_copy AS SELECT * FROM @this_model;

AUDIT (name row_count_positive);
SELECT 1 AS bad FROM (SELECT COUNT(*) AS n FROM @this_model) WHERE n = 0
