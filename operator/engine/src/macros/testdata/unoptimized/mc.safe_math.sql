SELECT
  CASE
    WHEN "a" IS NULL AND "d" IS NULL
    THEN NULL
    ELSE COALESCE("a", 0) + COALESCE("d", 0)
  END AS "add2",
  CASE
    WHEN "a" IS NULL AND "d" IS NULL AND NULL IS NULL
    THEN NULL
    ELSE COALESCE("a", 0) + COALESCE("d", 0) + COALESCE(NULL, 0)
  END AS "add3",
  CASE
    WHEN "d" IS NULL AND "a" IS NULL
    THEN NULL
    ELSE COALESCE("d", 0) - COALESCE("a", 0)
  END AS "sub2",
  CASE
    WHEN "d" IS NULL AND "a" IS NULL AND "a" IS NULL
    THEN NULL
    ELSE COALESCE("d", 0) - COALESCE("a", 0) - COALESCE("a", 0)
  END AS "sub3",
  "d" / NULLIF("a", 0) AS "div",
  "d" / NULLIF(0, 0) AS "div_zero"
FROM "macro_cases"."mc"."src_foo" AS "src_foo"
