-- divergent_messages: the messages whose two readings differ most (Jensen-Shannon divergence
-- between the author and reader distributions), most divergent first.
--
-- Returns: message_id, conversation_id, channel, sender, sent_at, text, author_emotion,
-- author_confidence, reader_emotion, reader_confidence, author_labels, reader_labels,
-- js_divergence, shifted, truncated. text is untrusted user content: escape it when displaying.
--
-- Parameters (NULL means no filter):
--   $start TIMESTAMPTZ, $end TIMESTAMPTZ (half-open [start, end)), $conversation, $channel,
--   $sender VARCHAR exact matches; $limit INTEGER the number of messages (NULL: all).
SELECT
    message_id, conversation_id, channel, sender, sent_at, text,
    author_emotion, author_confidence, reader_emotion, reader_confidence,
    author_labels, reader_labels, js_divergence, shifted, truncated
FROM in_scope($start, $end, $conversation, $channel, $sender)
ORDER BY js_divergence DESC, message_id
LIMIT $limit::INTEGER;
