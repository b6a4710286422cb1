-- shift_matrix: the author -> reader emotion matrix, one row per observed (author, reader) pair.
--
-- Returns: author_emotion, reader_emotion, messages, row_rate (share of messages the author meant
-- as author_emotion that the reader read as reader_emotion; each author row sums to 1), share
-- (share of all messages in scope), mean_divergence (mean Jensen-Shannon divergence of the pair).
-- Cells with no messages are absent; the diagonal is "read as meant".
--
-- Parameters (NULL means no filter):
--   $start TIMESTAMPTZ   messages sent at or after
--   $end TIMESTAMPTZ     messages sent before
--   $conversation VARCHAR, $channel VARCHAR, $sender VARCHAR   exact matches
WITH scoped AS (
    SELECT * FROM message_lenses
    WHERE ($start::TIMESTAMPTZ IS NULL OR sent_at >= $start::TIMESTAMPTZ)
      AND ($end::TIMESTAMPTZ IS NULL OR sent_at < $end::TIMESTAMPTZ)
      AND ($conversation::VARCHAR IS NULL OR conversation_id = $conversation::VARCHAR)
      AND ($channel::VARCHAR IS NULL OR channel = $channel::VARCHAR)
      AND ($sender::VARCHAR IS NULL OR sender = $sender::VARCHAR)
)
SELECT
    author_emotion,
    reader_emotion,
    count(*) AS messages,
    count(*)::DOUBLE / sum(count(*)) OVER (PARTITION BY author_emotion) AS row_rate,
    count(*)::DOUBLE / sum(count(*)) OVER () AS share,
    avg(js_divergence) AS mean_divergence
FROM scoped
GROUP BY author_emotion, reader_emotion
ORDER BY author_emotion, reader_emotion;
