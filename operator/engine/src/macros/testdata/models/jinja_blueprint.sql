MODEL (
  name mc.jbp_@{suffix},
  kind FULL,
  blueprints ((suffix := one, col := a), (suffix := two, col := d))
);
JINJA_QUERY_BEGIN;
SELECT {{ blueprint_var('col') }} AS picked, '{{ blueprint_var('missing', 'dflt') }}' AS missing
FROM mc.src_foo
JINJA_END;
