MODEL (name mc.quirk_millis_incr, kind INCREMENTAL_BY_TIME_RANGE (time_column d), cron '@daily');
-- load-time render uses start = end = 1970-01-01, so start_millis is typed INT; real values overflow INT32
SELECT @start_date AS d, @start_millis AS start_millis, @end_millis AS end_millis
