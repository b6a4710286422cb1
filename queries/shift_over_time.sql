-- shift_over_time: shift rate and mean divergence per day or week (UTC), oldest first.
--
-- Returns: period (TIMESTAMP, start of the UTC day or ISO week), messages, shifted, shift_rate,
-- wilson_low, wilson_high (95% Wilson score interval), mean_divergence. Periods without messages
-- are absent.
--
-- Parameters (NULL means no filter):
--   $grain VARCHAR 'day' or 'week'
--   $start TIMESTAMPTZ, $end TIMESTAMPTZ (half-open [start, end)), $conversation, $channel,
--   $sender VARCHAR exact matches.
WITH scoped AS (
    SELECT * FROM message_lenses
    WHERE ($start::TIMESTAMPTZ IS NULL OR sent_at >= $start::TIMESTAMPTZ)
      AND ($end::TIMESTAMPTZ IS NULL OR sent_at < $end::TIMESTAMPTZ)
      AND ($conversation::VARCHAR IS NULL OR conversation_id = $conversation::VARCHAR)
      AND ($channel::VARCHAR IS NULL OR channel = $channel::VARCHAR)
      AND ($sender::VARCHAR IS NULL OR sender = $sender::VARCHAR)
),
periods AS (
    -- truncated in UTC, not the session time zone, so a report is the same wherever it runs
    SELECT
        date_trunc($grain::VARCHAR, timezone('UTC', sent_at)) AS period,
        count(*) AS messages,
        count(*) FILTER (WHERE shifted) AS shifted,
        avg(js_divergence) AS mean_divergence
    FROM scoped
    GROUP BY period
),
rated AS (SELECT *, shifted::DOUBLE / messages AS p, 1.959964 AS z FROM periods)
SELECT
    period, messages, shifted,
    p AS shift_rate,
    greatest(0.0, (p + z * z / (2 * messages) - z * sqrt(p * (1 - p) / messages + z * z / (4 * messages * messages)))
        / (1 + z * z / messages)) AS wilson_low,
    least(1.0, (p + z * z / (2 * messages) + z * sqrt(p * (1 - p) / messages + z * z / (4 * messages * messages)))
        / (1 + z * z / messages)) AS wilson_high,
    mean_divergence
FROM rated
ORDER BY period;
