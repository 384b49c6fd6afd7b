SELECT
  CAST("f"."a" AS INT) AS "a",
  CAST("f"."b" AS TEXT) AS "b",
  CAST("f"."c" AS TEXT) AS "c",
  CAST("f"."d" AS INT) AS "d",
  CAST("f"."event_date" AS DATE) AS "event_date",
  CAST("f"."a" AS INT) AS "baz_a_qux",
  CAST("f"."b" AS TEXT) AS "baz_b_qux",
  CAST("f"."d" AS INT) AS "baz_d_qux",
  CAST("f"."event_date" AS DATE) AS "baz_event_date_qux",
  CAST("f"."d" AS INT) AS "d_pre_d",
  CAST("f"."c" AS TEXT) AS "c_old",
  CAST("f"."a" AS INT) AS "noquote_a",
  CAST("r"."a" AS INT) AS "a",
  CAST("r"."b" AS INT) AS "b",
  CAST("r"."c" AS TEXT) AS "c"
FROM "macro_cases"."mc"."src_foo" AS "f"
CROSS JOIN "macro_cases"."mc"."src_bar" AS "r"
