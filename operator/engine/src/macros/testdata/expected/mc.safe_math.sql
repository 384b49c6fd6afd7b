SELECT
  CASE
    WHEN "src_foo"."a" IS NULL AND "src_foo"."d" IS NULL
    THEN NULL
    ELSE COALESCE("src_foo"."a", 0) + COALESCE("src_foo"."d", 0)
  END AS "add2",
  CASE
    WHEN "src_foo"."a" IS NULL AND "src_foo"."d" IS NULL
    THEN NULL
    ELSE COALESCE("src_foo"."a", 0) + COALESCE("src_foo"."d", 0) + COALESCE(NULL, 0)
  END AS "add3",
  CASE
    WHEN "src_foo"."a" IS NULL AND "src_foo"."d" IS NULL
    THEN NULL
    ELSE COALESCE("src_foo"."d", 0) - COALESCE("src_foo"."a", 0)
  END AS "sub2",
  CASE
    WHEN "src_foo"."a" IS NULL AND "src_foo"."d" IS NULL
    THEN NULL
    ELSE COALESCE("src_foo"."d", 0) - COALESCE("src_foo"."a", 0) - COALESCE("src_foo"."a", 0)
  END AS "sub3",
  "src_foo"."d" / NULLIF("src_foo"."a", 0) AS "div",
  "src_foo"."d" / NULLIF(0, 0) AS "div_zero"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
