MODEL (name mc.jinja_query, kind FULL);
JINJA_QUERY_BEGIN;
{% set vehicles = ['car', 'truck'] %}
SELECT
  {{ 1 + 1 }} AS two,
  {% for v in vehicles %}
  CASE WHEN b = '{{ v }}' THEN 1 ELSE 0 END AS vehicle_{{ v }},
  {% endfor %}
  {{ alias('a', 'a_alias') }},
  {{ safe_hash(['b', 'c']) }} AS hashed,
  {% if var('bool_var') %}'bool_var true'{% else %}'bool_var false'{% endif %} AS bool_branch
FROM mc.src_foo
JINJA_END;
