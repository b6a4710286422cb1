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
SELECT
    author_emotion,
    reader_emotion,
    count(*) AS messages,
    count(*)::DOUBLE / sum(count(*)) OVER (PARTITION BY author_emotion) AS row_rate,
    count(*)::DOUBLE / sum(count(*)) OVER () AS share,
    avg(js_divergence) AS mean_divergence
FROM in_scope($start, $end, $conversation, $channel, $sender)
GROUP BY author_emotion, reader_emotion
ORDER BY author_emotion, reader_emotion;
