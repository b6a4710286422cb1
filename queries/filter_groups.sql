-- filter_groups: the messages in scope counted per conversation, channel, sender, UTC period and
-- matrix cell, so the HTML report's filters can recount its headline figures and matrix offline.
--
-- One row per observed (conversation_id, channel, sender, period, author_emotion,
-- reader_emotion). The report embeds these rows instead of the messages themselves, so its size
-- depends on how many such groups there are, not on how many messages; $max_rows caps them.
--
-- Returns: conversation_id, channel, sender, period (start of the UTC $grain period; NULL without
-- a send time, and always NULL when $grain is 'none'), author_emotion, reader_emotion, messages,
-- shifted, divergence (the sum of js_divergence, so that means can be recounted). At most
-- $max_rows + 1 rows: more than $max_rows says the whole table would not fit.
--
-- Parameters (NULL means no filter):
--   $start TIMESTAMPTZ, $end TIMESTAMPTZ (half-open [start, end)), $conversation, $channel,
--   $sender VARCHAR exact matches; $grain VARCHAR 'day' (NULL too), 'week' or 'none';
--   $max_rows INTEGER (NULL: all).
SELECT
    conversation_id, channel, sender,
    CASE WHEN $grain::VARCHAR = 'none' THEN NULL
         ELSE date_trunc(CASE WHEN $grain::VARCHAR = 'week' THEN 'week' ELSE 'day' END, timezone('UTC', sent_at))
    END AS period,
    author_emotion, reader_emotion,
    count(*) AS messages,
    count(*) FILTER (WHERE shifted) AS shifted,
    sum(js_divergence) AS divergence
FROM in_scope($start, $end, $conversation, $channel, $sender)
GROUP BY ALL
LIMIT $max_rows::INTEGER + 1;
