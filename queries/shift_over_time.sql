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
WITH periods AS (
    -- truncated in UTC, not the session time zone, so a report is the same wherever it runs
    SELECT
        date_trunc($grain::VARCHAR, timezone('UTC', sent_at)) AS period,
        count(*) AS messages,
        count(*) FILTER (WHERE shifted) AS shifted,
        avg(js_divergence) AS mean_divergence
    FROM in_scope($start, $end, $conversation, $channel, $sender)
    GROUP BY period
)
SELECT
    period, messages, shifted,
    shifted::DOUBLE / messages AS shift_rate,
    wilson_low(shifted, messages) AS wilson_low,
    wilson_high(shifted, messages) AS wilson_high,
    mean_divergence
FROM periods
ORDER BY period;
