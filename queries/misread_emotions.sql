-- misread_emotions: for each intended (author) emotion, how often the reader lens perceives
-- something else, and what it is most often perceived as.
--
-- Returns: intended, messages, misread, misread_rate, wilson_low, wilson_high (95% Wilson score
-- interval of misread_rate), read_as (the most frequent other emotion; NULL if never misread),
-- read_as_messages, read_as_rate (read_as_messages / messages), mean_divergence.
-- Ordered by misread_rate, highest first; emotions with fewer than $min_support messages are left
-- out because their rates are noise.
--
-- Parameters (NULL means no filter):
--   $start TIMESTAMPTZ, $end TIMESTAMPTZ (half-open [start, end)), $conversation, $channel,
--   $sender VARCHAR exact matches; $min_support INTEGER the fewest messages an emotion needs.
WITH scoped AS (
    SELECT * FROM message_lenses
    WHERE ($start::TIMESTAMPTZ IS NULL OR sent_at >= $start::TIMESTAMPTZ)
      AND ($end::TIMESTAMPTZ IS NULL OR sent_at < $end::TIMESTAMPTZ)
      AND ($conversation::VARCHAR IS NULL OR conversation_id = $conversation::VARCHAR)
      AND ($channel::VARCHAR IS NULL OR channel = $channel::VARCHAR)
      AND ($sender::VARCHAR IS NULL OR sender = $sender::VARCHAR)
),
cells AS (
    SELECT author_emotion, reader_emotion, count(*) AS n, sum(js_divergence) AS divergence
    FROM scoped GROUP BY author_emotion, reader_emotion
),
intended AS (
    SELECT
        author_emotion AS intended,
        sum(n) AS messages,
        coalesce(sum(n) FILTER (WHERE reader_emotion <> author_emotion), 0) AS misread,
        sum(divergence) / sum(n) AS mean_divergence,
        -- ties broken by name so the report is the same on every run
        first(reader_emotion ORDER BY n DESC, reader_emotion) FILTER (WHERE reader_emotion <> author_emotion) AS read_as,
        max(n) FILTER (WHERE reader_emotion <> author_emotion) AS read_as_messages
    FROM cells GROUP BY author_emotion
),
rated AS (
    SELECT *, misread::DOUBLE / messages AS p, 1.959964 AS z FROM intended
    WHERE messages >= $min_support::INTEGER
)
SELECT
    intended, messages, misread,
    p AS misread_rate,
    -- Wilson score interval (Wilson 1927): stays inside [0, 1] and honest for small n
    greatest(0.0, (p + z * z / (2 * messages) - z * sqrt(p * (1 - p) / messages + z * z / (4 * messages * messages)))
        / (1 + z * z / messages)) AS wilson_low,
    least(1.0, (p + z * z / (2 * messages) + z * sqrt(p * (1 - p) / messages + z * z / (4 * messages * messages)))
        / (1 + z * z / messages)) AS wilson_high,
    read_as,
    coalesce(read_as_messages, 0) AS read_as_messages,
    coalesce(read_as_messages, 0)::DOUBLE / messages AS read_as_rate,
    mean_divergence
FROM rated
ORDER BY misread_rate DESC, messages DESC, intended;
