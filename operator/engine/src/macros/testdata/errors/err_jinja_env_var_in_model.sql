MODEL (name mc.jinja_env_var, kind FULL);
JINJA_QUERY_BEGIN;
SELECT '{{ env_var('MC_ENV_STR', 'model_default') }}' AS from_env_var
JINJA_END;
