SELECT
  "a" + 1 AS "a_inc",
  "d" + 1 AS "d_inc",
  CASE
    WHEN "a" IS NULL AND "d" IS NULL
    THEN NULL
    ELSE COALESCE("a", 0) + COALESCE("d", 0)
  END AS "total",
  'three' AS "if_reduce",
  "a" / NULLIF(2, 0) AS "a_half",
  "d" / NULLIF(2, 0) AS "d_half",
  MD5(COALESCE(CAST(["a", "d"] AS TEXT), '_sqlmesh_surrogate_key_null_')) AS "sk_from_list"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
