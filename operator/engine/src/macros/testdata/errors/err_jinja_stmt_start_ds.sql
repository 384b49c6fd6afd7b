MODEL (name mc.err_jinja_stmt_start_ds, kind FULL);
JINJA_STATEMENT_BEGIN;
CREATE SCHEMA IF NOT EXISTS mc_side;
JINJA_END;
JINJA_STATEMENT_BEGIN;
CREATE TABLE IF NOT EXISTS mc_side.jinja_pre_{{ var('str_var') }} AS SELECT {{ var('int_var') }} AS x;
JINJA_END;
SELECT a, @start_ds AS sqlmesh_macro_in_plain_query FROM (SELECT 1 AS a);
JINJA_STATEMENT_BEGIN;
{% if runtime_stage == 'evaluating' %}
CREATE TABLE IF NOT EXISTS mc_side.jinja_post AS SELECT 1 AS y;
{% endif %}
JINJA_END;
