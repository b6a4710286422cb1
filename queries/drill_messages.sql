-- drill_messages: a bounded sample of messages for the report's drill-down, so that every matrix
-- cell, conversation, channel, sender and period can show its own messages offline.
--
-- Each message is ranked, highest shift score first, within its matrix cell (author_emotion,
-- reader_emotion), its conversation, its channel, its sender and its UTC $grain period; a message
-- is kept when it is among the first $per_group of any of them, and the $max_messages kept are
-- those with the best rank (so every group gets its first messages before any gets more).
--
-- Returns: message_id, conversation_id, channel, sender, sent_at, text (cut to $max_chars
-- characters; untrusted user content: escape it when displaying), text_chars (its full length),
-- author_emotion, author_confidence, reader_emotion, reader_confidence, js_divergence, shift_kind,
-- shift_score, shifted,
-- truncated, period (start of its UTC day or week, NULL without a send time).
--
-- Parameters (NULL means no filter):
--   $start TIMESTAMPTZ, $end TIMESTAMPTZ (half-open [start, end)), $conversation, $channel,
--   $sender VARCHAR exact matches; $grain VARCHAR 'day' (NULL too) or 'week'; $per_group INTEGER
--   (NULL: 25); $max_messages INTEGER (NULL: all); $max_chars INTEGER (NULL: 400).
WITH scoped AS (
    SELECT *, date_trunc(coalesce($grain::VARCHAR, 'day'), timezone('UTC', sent_at)) AS period
    FROM in_scope($start, $end, $conversation, $channel, $sender)
),
-- Each group's most divergent messages, best first: arg_max keeps a bounded heap per group, far
-- cheaper than ranking every message by five window sorts (4 s against under 1 s at 1M messages).
tops AS (
    SELECT arg_max(message_id, shift_score, coalesce($per_group::INTEGER, 25)) AS ids
    FROM scoped GROUP BY author_emotion, reader_emotion
    UNION ALL
    SELECT arg_max(message_id, shift_score, coalesce($per_group::INTEGER, 25)) FROM scoped GROUP BY conversation_id
    UNION ALL
    SELECT arg_max(message_id, shift_score, coalesce($per_group::INTEGER, 25)) FROM scoped GROUP BY channel
    UNION ALL
    SELECT arg_max(message_id, shift_score, coalesce($per_group::INTEGER, 25)) FROM scoped GROUP BY sender
    UNION ALL
    SELECT arg_max(message_id, shift_score, coalesce($per_group::INTEGER, 25)) FROM scoped GROUP BY period
),
picked AS (
    SELECT message_id, min(best_rank) AS best_rank
    FROM (SELECT unnest(ids) AS message_id, generate_subscripts(ids, 1) AS best_rank FROM tops)
    GROUP BY message_id
)
SELECT
    s.message_id, s.conversation_id, s.channel, s.sender, s.sent_at,
    left(coalesce(s.text, ''), coalesce($max_chars::INTEGER, 400)) AS text, length(coalesce(s.text, '')) AS text_chars,
    s.author_emotion, s.author_confidence, s.reader_emotion, s.reader_confidence, s.js_divergence, s.shift_kind,
    s.shift_score, s.shifted,
    s.truncated, s.period
FROM picked AS p
JOIN scoped AS s ON s.message_id = p.message_id
ORDER BY p.best_rank, s.shift_score DESC, s.message_id
LIMIT $max_messages::INTEGER;
