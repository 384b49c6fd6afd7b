SELECT
  '' AS "jinja_start_in_full",
  '2024-01-04' AS "jinja_exec",
  '' AS "undefined_var"
