MODEL (name mc.quirk_this_model_as_column, kind FULL);
SELECT @this_model AS this_model_val
