MODEL (name mc.macro_vars_full, kind FULL);
-- FULL and VIEW kinds only get execution_* temporal variables: start_X / end_X are undefined (load error)
SELECT
  @execution_ds AS execution_ds, @execution_date AS execution_date, @execution_ts AS execution_ts,
  @execution_tstz AS execution_tstz, @execution_dt AS execution_dt, @execution_dtntz AS execution_dtntz,
  @execution_epoch AS execution_epoch, @execution_hour AS execution_hour,
  @latest_ds AS latest_ds,
  @gateway AS gateway,
  @runtime_stage AS runtime_stage
