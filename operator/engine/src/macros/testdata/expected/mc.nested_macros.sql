SELECT
  "src_foo"."a" + 1 AS "a_inc",
  "src_foo"."d" + 1 AS "d_inc",
  CASE
    WHEN "src_foo"."a" IS NULL AND "src_foo"."d" IS NULL
    THEN NULL
    ELSE COALESCE("src_foo"."a", 0) + COALESCE("src_foo"."d", 0)
  END AS "total",
  'three' AS "if_reduce",
  "src_foo"."a" / NULLIF(2, 0) AS "a_half",
  "src_foo"."d" / NULLIF(2, 0) AS "d_half",
  MD5(
    COALESCE(CAST(["src_foo"."a", "src_foo"."d"] AS TEXT), '_sqlmesh_surrogate_key_null_')
  ) AS "sk_from_list"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
