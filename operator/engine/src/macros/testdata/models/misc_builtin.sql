MODEL (name mc.misc_builtin, kind FULL);
SELECT
  @HAVERSINE_DISTANCE(40.7, -74.0, 34.0, -118.2, 'km') AS dist_km,
  @HAVERSINE_DISTANCE(40.7, -74.0, 34.0, -118.2) AS dist_mi,
  @RESOLVE_TEMPLATE('@{catalog_name}.@{schema_name}.@{table_name}') AS tpl_literal
