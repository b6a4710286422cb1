-- shifting_conversations: the conversations whose messages shift most, ranked by the lower bound of a
-- 95% Wilson score interval on their shift rate, so that three messages that all shifted do not
-- outrank three hundred of which most did.
--
-- Returns: name (the conversation_id), messages, shifted, shift_rate, wilson_low, wilson_high,
-- mean_divergence, senders, conversations (distinct counts), first_at, last_at.
-- Only conversations with at least $min_support messages; at most $limit rows.
--
-- Parameters (NULL means no filter):
--   $start TIMESTAMPTZ, $end TIMESTAMPTZ (half-open [start, end)), $conversation, $channel,
--   $sender VARCHAR exact matches; $min_support INTEGER; $limit INTEGER.
WITH scoped AS (
    SELECT * FROM message_lenses
    WHERE ($start::TIMESTAMPTZ IS NULL OR sent_at >= $start::TIMESTAMPTZ)
      AND ($end::TIMESTAMPTZ IS NULL OR sent_at < $end::TIMESTAMPTZ)
      AND ($conversation::VARCHAR IS NULL OR conversation_id = $conversation::VARCHAR)
      AND ($channel::VARCHAR IS NULL OR channel = $channel::VARCHAR)
      AND ($sender::VARCHAR IS NULL OR sender = $sender::VARCHAR)
),
grouped AS (
    SELECT
        conversation_id AS name,
        count(*) AS messages,
        count(*) FILTER (WHERE shifted) AS shifted,
        avg(js_divergence) AS mean_divergence,
        count(DISTINCT sender) AS senders,
        count(DISTINCT conversation_id) AS conversations,
        min(sent_at) AS first_at,
        max(sent_at) AS last_at
    FROM scoped
    GROUP BY conversation_id
    HAVING count(*) >= $min_support::INTEGER
),
rated AS (SELECT *, shifted::DOUBLE / messages AS p, 1.959964 AS z FROM grouped)
SELECT
    name, messages, shifted,
    p AS shift_rate,
    -- Wilson score interval (Wilson 1927)
    greatest(0.0, (p + z * z / (2 * messages) - z * sqrt(p * (1 - p) / messages + z * z / (4 * messages * messages)))
        / (1 + z * z / messages)) AS wilson_low,
    least(1.0, (p + z * z / (2 * messages) + z * sqrt(p * (1 - p) / messages + z * z / (4 * messages * messages)))
        / (1 + z * z / messages)) AS wilson_high,
    mean_divergence, senders, conversations, first_at, last_at
FROM rated
ORDER BY wilson_low DESC, messages DESC, name
LIMIT $limit::INTEGER;
