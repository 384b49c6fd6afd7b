MODEL (
  name mart.customer_orders,
  kind INCREMENTAL_BY_UNIQUE_KEY (
    unique_key customer_id
  ),
  grain customer_id,
  owner growth,
  description 'One row per customer with their order count and lifetime value, excluding returned orders.',
  tags [mart, growth],
  audits (
    not_null(columns := [customer_id, order_count, lifetime_value]),
    unique_values(columns := [customer_id]),
    accepted_range(column := lifetime_value, min_v := 0)
  )
);

SELECT
  c.customer_id,
  c.customer_name,
  c.country_code,
  COUNT(o.order_id) AS order_count,
  COALESCE(SUM(o.amount), 0) AS lifetime_value,
  MIN(o.order_date) AS first_order_date,
  MAX(o.order_date) AS last_order_date
FROM stg.customers AS c
LEFT JOIN stg.valid_orders AS o
  ON o.customer_id = c.customer_id
GROUP BY
  c.customer_id,
  c.customer_name,
  c.country_code
