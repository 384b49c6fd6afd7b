MODEL (
  name mart.daily_revenue,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column order_date,
    batch_size 2
  ),
  grain order_date,
  owner finance,
  description 'Orders and revenue per day. Returned orders are counted but do not contribute to revenue.',
  tags [mart, finance],
  audits (
    not_null(columns := [order_date, order_count, revenue]),
    unique_values(columns := [order_date]),
    accepted_range(column := revenue, min_v := 0),
    accepted_range(column := returned_amount, min_v := 0)
  )
);

SELECT
  order_date,
  COUNT(*) AS order_count,
  COUNT(DISTINCT customer_id) AS customer_count,
  SUM(CASE WHEN status <> 'returned' THEN amount ELSE 0 END) AS revenue,
  SUM(CASE WHEN status = 'returned' THEN amount ELSE 0 END) AS returned_amount
FROM stg.orders
WHERE order_date BETWEEN @start_ds AND @end_ds
  AND status <> 'placed'
GROUP BY order_date
