MODEL (name mc.err_full_start_ds, kind FULL);
SELECT @start_ds AS a
