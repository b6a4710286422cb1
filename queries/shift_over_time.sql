-- shift_over_time: shift rate and mean divergence per day or week (UTC), oldest first, every
-- period between the first and the last one included.
--
-- Returns: period (TIMESTAMP, start of the UTC day or ISO week), messages, shifted, shift_rate,
-- wilson_low, wilson_high (95% Wilson score interval), mean_divergence. A period without messages
-- is a row with messages 0 and NULL rates, so a chart shows it as a gap rather than drawing a line
-- across it. Messages without a send time are left out (no row at all when none has one).
--
-- Parameters (NULL means no filter):
--   $grain VARCHAR 'day' (NULL too) or 'week'
--   $start TIMESTAMPTZ, $end TIMESTAMPTZ (half-open [start, end)), $conversation, $channel,
--   $sender VARCHAR exact matches.
WITH periods AS (
    -- truncated in UTC, not the session time zone, so a report is the same wherever it runs
    SELECT
        date_trunc(coalesce($grain::VARCHAR, 'day'), timezone('UTC', sent_at)) AS period,
        count(*) AS messages,
        count(*) FILTER (WHERE shifted) AS shifted,
        avg(js_divergence) AS mean_divergence
    FROM in_scope($start, $end, $conversation, $channel, $sender)
    WHERE sent_at IS NOT NULL
    GROUP BY period
),
calendar AS (
    SELECT unnest(generate_series(min(period), max(period),
                                  CASE coalesce($grain::VARCHAR, 'day') WHEN 'week' THEN INTERVAL 7 DAY ELSE INTERVAL 1 DAY END))
           AS period
    FROM periods
)
SELECT
    c.period,
    coalesce(p.messages, 0) AS messages,
    coalesce(p.shifted, 0) AS shifted,
    p.shifted::DOUBLE / p.messages AS shift_rate,
    CASE WHEN p.messages > 0 THEN wilson_low(p.shifted, p.messages) END AS wilson_low,
    CASE WHEN p.messages > 0 THEN wilson_high(p.shifted, p.messages) END AS wilson_high,
    p.mean_divergence
FROM calendar AS c
LEFT JOIN periods AS p ON p.period = c.period
ORDER BY c.period;
