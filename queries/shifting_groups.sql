-- shifting_groups: the conversations, channels or senders whose messages shift most, ranked by the
-- lower bound of a 95% Wilson score interval on their shift rate, so that three messages that all
-- shifted do not outrank three hundred of which most did.
--
-- Returns: name (the conversation_id, channel or sender), messages, shifted, shift_rate,
-- wilson_low, wilson_high, mean_divergence, senders, conversations (distinct counts), first_at,
-- last_at. Only groups with at least $min_support messages; at most $limit rows.
--
-- Parameters (NULL means no filter):
--   $dimension VARCHAR what to group by: 'conversation', 'channel' or 'sender' (required)
--   $start TIMESTAMPTZ, $end TIMESTAMPTZ (half-open [start, end)), $conversation, $channel,
--   $sender VARCHAR exact matches; $min_support INTEGER (NULL: 1); $limit INTEGER (NULL: all).
--
-- Replaces shifting_conversations, shifting_channels and shifting_senders (same columns, same
-- order): `echoroom sql shifting_groups --param dimension=sender`.
WITH grouped AS (
    SELECT
        -- $dimension is a bound value that picks a column, never SQL text
        CASE $dimension::VARCHAR
            WHEN 'conversation' THEN conversation_id
            WHEN 'channel' THEN channel
            WHEN 'sender' THEN sender
        END AS name,
        count(*) AS messages,
        count(*) FILTER (WHERE shifted) AS shifted,
        avg(js_divergence) AS mean_divergence,
        count(DISTINCT sender) AS senders,
        count(DISTINCT conversation_id) AS conversations,
        min(sent_at) AS first_at,
        max(sent_at) AS last_at
    FROM in_scope($start, $end, $conversation, $channel, $sender)
    GROUP BY name
    HAVING count(*) >= coalesce($min_support::INTEGER, 1)
)
SELECT
    name, messages, shifted,
    shifted::DOUBLE / messages AS shift_rate,
    wilson_low(shifted, messages) AS wilson_low,
    wilson_high(shifted, messages) AS wilson_high,
    mean_divergence, senders, conversations, first_at, last_at
FROM grouped
ORDER BY wilson_low DESC, messages DESC, name
-- The dimension is checked here, where DuckDB evaluates it even when no message is in scope (a
-- check in the grouping would only run on rows).
LIMIT (SELECT CASE WHEN $dimension::VARCHAR IN ('conversation', 'channel', 'sender') THEN $limit::INTEGER
                   ELSE error('shifting_groups: dimension must be ''conversation'', ''channel'' or ''sender'' '
                              || '(echoroom sql: --param dimension=sender), got '
                              || coalesce('''' || $dimension::VARCHAR || '''', 'NULL')) END);
