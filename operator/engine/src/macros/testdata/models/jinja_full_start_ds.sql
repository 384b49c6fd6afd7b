MODEL (name mc.jinja_full_start_ds, kind FULL);
JINJA_QUERY_BEGIN;
SELECT '{{ start_ds }}' AS jinja_start_in_full, '{{ execution_ds }}' AS jinja_exec, '{{ no_such_var }}' AS undefined_var
JINJA_END;
