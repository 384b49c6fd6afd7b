SELECT
  7922 * ASIN(
    SQRT(
      (
        POWER(SIN(RADIANS((
          34.0 - 40.7
        ) / 2)), 2)
      ) + (
        COS(RADIANS(40.7)) * COS(RADIANS(34.0)) * POWER(SIN(RADIANS((
          -118.2 - -74.0
        ) / 2)), 2)
      )
    )
  ) * 1.60934 AS "dist_km",
  7922 * ASIN(
    SQRT(
      (
        POWER(SIN(RADIANS((
          34.0 - 40.7
        ) / 2)), 2)
      ) + (
        COS(RADIANS(40.7)) * COS(RADIANS(34.0)) * POWER(SIN(RADIANS((
          -118.2 - -74.0
        ) / 2)), 2)
      )
    )
  ) * 1.0 AS "dist_mi",
  'macro_cases.mc.misc_builtin' AS "tpl_literal"
