MODEL (
  name raw.orders,
  kind SEED (
    path '../../seeds/orders.csv'
  ),
  columns (
    order_id INT,
    order_date DATE,
    customer_id INT,
    status TEXT,
    amount DECIMAL(10, 2)
  ),
  grain order_id,
  owner data_platform,
  description 'Orders as exported from the shop backend, one row per order.',
  tags [raw, seed],
  audits (
    not_null(columns := [order_id, order_date, customer_id]),
    unique_values(columns := [order_id])
  )
);
