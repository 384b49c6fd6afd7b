MODEL (name mc.err_model_kind_name, kind FULL);
SELECT @model_kind_name AS k
