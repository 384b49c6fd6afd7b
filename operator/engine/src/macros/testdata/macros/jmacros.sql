{% macro alias(expression, alias) %}
  {{ expression }} AS {{ alias }}
{% endmacro %}

{% macro safe_hash(columns) %}
  {%- set parts = [] -%}
  {%- for c in columns -%}{%- do parts.append("COALESCE(LOWER(" ~ c ~ "), '')") -%}{%- endfor -%}
  MD5({{ parts | join(' || ') }})
{% endmacro %}
