MODEL (
  name raw.customers,
  kind SEED (
    path '../../seeds/customers.csv'
  ),
  columns (
    customer_id INT,
    name TEXT,
    email TEXT,
    country TEXT,
    signup_date DATE
  ),
  grain customer_id,
  owner data_platform,
  description 'Customers as exported from the shop backend, one row per customer.',
  tags [raw, seed],
  audits (
    not_null(columns := [customer_id, email]),
    unique_values(columns := [customer_id])
  )
);
