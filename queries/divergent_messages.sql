-- divergent_messages: the messages whose two readings differ most (Jensen-Shannon divergence
-- between the author and reader distributions), most divergent first.
--
-- Returns: message_id, conversation_id, channel, sender, sent_at, text, author_emotion,
-- author_confidence, reader_emotion, reader_confidence, author_labels, reader_labels,
-- js_divergence, shifted, truncated. text is untrusted user content: escape it when displaying.
--
-- Parameters (NULL means no filter):
--   $start TIMESTAMPTZ, $end TIMESTAMPTZ (half-open [start, end)), $conversation, $channel,
--   $sender VARCHAR exact matches; $limit INTEGER the number of messages.
WITH scoped AS (
    SELECT * FROM message_lenses
    WHERE ($start::TIMESTAMPTZ IS NULL OR sent_at >= $start::TIMESTAMPTZ)
      AND ($end::TIMESTAMPTZ IS NULL OR sent_at < $end::TIMESTAMPTZ)
      AND ($conversation::VARCHAR IS NULL OR conversation_id = $conversation::VARCHAR)
      AND ($channel::VARCHAR IS NULL OR channel = $channel::VARCHAR)
      AND ($sender::VARCHAR IS NULL OR sender = $sender::VARCHAR)
)
SELECT
    message_id, conversation_id, channel, sender, sent_at, text,
    author_emotion, author_confidence, reader_emotion, reader_confidence,
    author_labels, reader_labels, js_divergence, shifted, truncated
FROM scoped
ORDER BY js_divergence DESC, message_id
LIMIT $limit::INTEGER;
