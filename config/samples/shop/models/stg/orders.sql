MODEL (
  name stg.orders,
  kind VIEW,
  grain order_id,
  owner data_platform,
  description 'Cleaned orders: normalized status, amount as a fixed-point number.',
  tags [staging],
  audits (
    not_null(columns := [order_id, order_date, customer_id, status, amount]),
    unique_values(columns := [order_id]),
    accepted_values(column := status, is_in := ('placed', 'shipped', 'returned')),
    assert_positive_amount(column := amount)
  )
);

SELECT
  order_id,
  order_date,
  customer_id,
  LOWER(TRIM(status)) AS status,
  CAST(amount AS DECIMAL(10, 2)) AS amount
FROM raw.orders
