-- shift_summary: one row of headline figures for the messages in scope.
--
-- Returns: messages, shifted, shift_rate (NULL when there are no messages), wilson_low,
-- wilson_high (95% Wilson score interval), mean_divergence, conversations, channels, senders,
-- truncated (messages cut to the encoder's length), first_at, last_at, timed (messages with a
-- send time), conversation_channels (distinct conversation/channel pairs: equal to both
-- conversations and channels when each conversation is its own channel, as in WhatsApp exports).
--
-- Parameters (NULL means no filter):
--   $start TIMESTAMPTZ, $end TIMESTAMPTZ (half-open [start, end)), $conversation, $channel,
--   $sender VARCHAR exact matches.
WITH totals AS (
    SELECT
        count(*) AS messages,
        count(*) FILTER (WHERE shifted) AS shifted,
        avg(js_divergence) AS mean_divergence,
        count(DISTINCT conversation_id) AS conversations,
        count(DISTINCT channel) AS channels,
        count(DISTINCT sender) AS senders,
        count(*) FILTER (WHERE truncated) AS truncated,
        min(sent_at) AS first_at,
        max(sent_at) AS last_at,
        count(sent_at) AS timed,
        count(DISTINCT (conversation_id, channel)) FILTER (WHERE conversation_id IS NOT NULL
                                                           AND channel IS NOT NULL) AS conversation_channels
    FROM in_scope($start, $end, $conversation, $channel, $sender)
)
SELECT
    messages, shifted,
    shifted::DOUBLE / nullif(messages, 0) AS shift_rate,
    wilson_low(shifted, messages) AS wilson_low,
    wilson_high(shifted, messages) AS wilson_high,
    mean_divergence, conversations, channels, senders, truncated, first_at, last_at, timed,
    conversation_channels
FROM totals;
