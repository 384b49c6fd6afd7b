MODEL (name mc.surrogate_key, kind FULL);
SELECT
  @GENERATE_SURROGATE_KEY(a, b, c) AS sk_md5,
  @GENERATE_SURROGATE_KEY(a, b, hash_function := 'SHA256') AS sk_sha256,
  @GENERATE_SURROGATE_KEY(a) AS sk_single
FROM mc.src_foo
