MODEL (
  name stg.customers,
  kind VIEW,
  grain customer_id,
  owner data_platform,
  description 'Cleaned customers: trimmed names, lower-case emails, upper-case country codes.',
  tags [staging],
  audits (
    not_null(columns := [customer_id, customer_name, email]),
    unique_values(columns := [customer_id, email]),
    number_of_rows(threshold := 5)
  )
);

SELECT
  customer_id,
  TRIM(name) AS customer_name,
  LOWER(TRIM(email)) AS email,
  UPPER(TRIM(country)) AS country_code,
  signup_date
FROM raw.customers
