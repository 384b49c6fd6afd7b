SELECT
  MD5(
    COALESCE(CAST("src_foo"."a" AS TEXT), '_sqlmesh_surrogate_key_null_') || '|' || COALESCE(CAST("src_foo"."b" AS TEXT), '_sqlmesh_surrogate_key_null_') || '|' || COALESCE(CAST("src_foo"."c" AS TEXT), '_sqlmesh_surrogate_key_null_')
  ) AS "sk_md5",
  SHA256(
    COALESCE(CAST("src_foo"."a" AS TEXT), '_sqlmesh_surrogate_key_null_') || '|' || COALESCE(CAST("src_foo"."b" AS TEXT), '_sqlmesh_surrogate_key_null_')
  ) AS "sk_sha256",
  MD5(COALESCE(CAST("src_foo"."a" AS TEXT), '_sqlmesh_surrogate_key_null_')) AS "sk_single"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
