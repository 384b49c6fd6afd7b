MODEL (
  name stg.valid_orders,
  kind EMBEDDED,
  grain order_id,
  owner data_platform,
  description 'Orders that were not returned. Inlined into the models that use it.',
  tags [staging]
);

SELECT
  order_id,
  order_date,
  customer_id,
  status,
  amount
FROM stg.orders
WHERE status <> 'returned'
