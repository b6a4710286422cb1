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
--   $sender VARCHAR exact matches; $min_support INTEGER the fewest messages an emotion needs (NULL: 1).
WITH cells AS (
    SELECT author_emotion, reader_emotion, count(*) AS n, sum(js_divergence) AS divergence
    FROM in_scope($start, $end, $conversation, $channel, $sender)
    GROUP BY author_emotion, reader_emotion
),
intended AS (
    SELECT
        author_emotion AS intended,
        sum(n) AS messages,
        coalesce(sum(n) FILTER (WHERE reader_emotion <> author_emotion), 0) AS misread,
        sum(divergence) / sum(n) AS mean_divergence,
        -- ties broken by name so the report is the same on every run
        first(reader_emotion ORDER BY n DESC, reader_emotion)
            FILTER (WHERE reader_emotion <> author_emotion) AS read_as,
        max(n) FILTER (WHERE reader_emotion <> author_emotion) AS read_as_messages
    FROM cells GROUP BY author_emotion
)
SELECT
    intended, messages, misread,
    misread::DOUBLE / messages AS misread_rate,
    wilson_low(misread, messages) AS wilson_low,
    wilson_high(misread, messages) AS wilson_high,
    read_as,
    coalesce(read_as_messages, 0) AS read_as_messages,
    coalesce(read_as_messages, 0)::DOUBLE / messages AS read_as_rate,
    mean_divergence
FROM intended
WHERE messages >= coalesce($min_support::INTEGER, 1)
ORDER BY misread_rate DESC, messages DESC, intended;
