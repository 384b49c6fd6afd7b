SELECT
  12749.19148 * ASIN(
    SQRT(
      (
        POWER(SIN(RADIANS(-3.35)), 2)
      ) + COS(RADIANS(40.7)) * COS(RADIANS(34.0)) * POWER(SIN(RADIANS(-22.1)), 2)
    )
  ) AS "dist_km",
  7922.0 * ASIN(
    SQRT(
      (
        POWER(SIN(RADIANS(-3.35)), 2)
      ) + COS(RADIANS(40.7)) * COS(RADIANS(34.0)) * POWER(SIN(RADIANS(-22.1)), 2)
    )
  ) AS "dist_mi",
  'macro_cases.mc.misc_builtin' AS "tpl_literal"
