MODEL (name mc.quirk_millis_full, kind FULL);
-- at load time the query is rendered with execution_time = 1970-01-01, so the inferred column type is INT;
-- the FULL insert then casts 1.7e12 to INT and fails at execution
SELECT @execution_millis AS execution_millis, @execution_epoch AS execution_epoch
