AUDIT (
  name assert_positive_amount
);

-- Rows whose @column is zero or negative. Called from a model's header as
-- assert_positive_amount(column := amount).
SELECT *
FROM @this_model
WHERE @column <= 0
