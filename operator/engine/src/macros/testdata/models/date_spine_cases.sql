MODEL (name mc.date_spine_cases, kind FULL);
WITH d AS (@DATE_SPINE('day', '2024-01-01', '2024-01-05')),
w AS (@DATE_SPINE('week', '2024-01-03', '2024-01-31')),
m AS (@DATE_SPINE('month', '2024-01-15', '2024-04-01'))
SELECT 'day' AS k, date_day AS dt FROM d
UNION ALL SELECT 'week', date_week FROM w
UNION ALL SELECT 'month', date_month FROM m
