-- shift_summary: one row of headline figures for the messages in scope.
--
-- Returns: messages, shifted, shift_rate (NULL when there are no messages), wilson_low,
-- wilson_high (95% Wilson score interval), mean_divergence, conversations, channels, senders,
-- truncated (messages cut to the encoder's length), first_at, last_at.
--
-- Parameters (NULL means no filter):
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
totals AS (
    SELECT
        count(*) AS messages,
        count(*) FILTER (WHERE shifted) AS shifted,
        avg(js_divergence) AS mean_divergence,
        count(DISTINCT conversation_id) AS conversations,
        count(DISTINCT channel) AS channels,
        count(DISTINCT sender) AS senders,
        count(*) FILTER (WHERE truncated) AS truncated,
        min(sent_at) AS first_at,
        max(sent_at) AS last_at
    FROM scoped
),
rated AS (SELECT *, shifted::DOUBLE / nullif(messages, 0) AS p, 1.959964 AS z FROM totals)
SELECT
    messages, shifted,
    p AS shift_rate,
    greatest(0.0, (p + z * z / (2 * messages) - z * sqrt(p * (1 - p) / messages + z * z / (4 * messages * messages)))
        / (1 + z * z / messages)) AS wilson_low,
    least(1.0, (p + z * z / (2 * messages) + z * sqrt(p * (1 - p) / messages + z * z / (4 * messages * messages)))
        / (1 + z * z / messages)) AS wilson_high,
    mean_divergence, conversations, channels, senders, truncated, first_at, last_at
FROM rated;
