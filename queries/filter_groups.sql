-- filter_groups: the messages in scope counted per conversation, channel, sender, UTC period and
-- matrix cell, so the HTML report's filters can recount every section offline.
--
-- One row per observed (conversation_id, channel, sender, period, author_emotion,
-- reader_emotion, shift_kind). The report embeds these rows instead of the messages themselves,
-- so its size depends on how many such groups there are, not on how many messages; $max_rows caps
-- them. Where even the table without time would be too large, $limit keeps the names of only the
-- busiest conversations, channels and senders: the others of each dimension are counted together,
-- with their name NULL and other_conversation, other_channel or other_sender true.
--
-- Returns: conversation_id, channel, sender, other_conversation, other_channel, other_sender,
-- period (start of the UTC $grain period; NULL without a send time, and always NULL when $grain is
-- 'none'), author_emotion, reader_emotion, shift_kind, messages, shifted, and, so that means can
-- be recounted, the sums divergence (js_divergence), score (shift_score), valence_gap and sarcasm,
-- with valence_gaps and sarcasms, how many messages have one. At most $max_rows + 1 rows: more
-- than $max_rows says the whole table would not fit.
--
-- Parameters (NULL means no filter):
--   $start TIMESTAMPTZ, $end TIMESTAMPTZ (half-open [start, end)), $conversation, $channel,
--   $sender VARCHAR exact matches; $grain VARCHAR 'day' (NULL too), 'week', 'month' or 'none';
--   $limit INTEGER how many names of each dimension are kept, busiest first, ties by name (NULL:
--   all); $max_rows INTEGER (NULL: all).
WITH scoped AS (SELECT * FROM in_scope($start, $end, $conversation, $channel, $sender)),
-- The kept names with their dimension; empty when every name is kept ($limit NULL), so then the
-- joins below cost nothing.
kept AS (
    SELECT dimension, name FROM (
        SELECT dimension, name, row_number() OVER (PARTITION BY dimension ORDER BY messages DESC, name) AS place
        FROM (SELECT 'conversation' AS dimension, conversation_id AS name, count(*) AS messages
              FROM scoped WHERE $limit::INTEGER IS NOT NULL AND conversation_id IS NOT NULL GROUP BY conversation_id
              UNION ALL
              SELECT 'channel', channel, count(*)
              FROM scoped WHERE $limit::INTEGER IS NOT NULL AND channel IS NOT NULL GROUP BY channel
              UNION ALL
              SELECT 'sender', sender, count(*)
              FROM scoped WHERE $limit::INTEGER IS NOT NULL AND sender IS NOT NULL GROUP BY sender))
    WHERE place <= $limit::INTEGER
),
marked AS (
    SELECT s.*,
           $limit::INTEGER IS NOT NULL AND s.conversation_id IS NOT NULL AND kc.name IS NULL AS other_conversation,
           $limit::INTEGER IS NOT NULL AND s.channel IS NOT NULL AND kch.name IS NULL AS other_channel,
           $limit::INTEGER IS NOT NULL AND s.sender IS NOT NULL AND ks.name IS NULL AS other_sender
    FROM scoped AS s
    LEFT JOIN (SELECT name FROM kept WHERE dimension = 'conversation') AS kc ON kc.name = s.conversation_id
    LEFT JOIN (SELECT name FROM kept WHERE dimension = 'channel') AS kch ON kch.name = s.channel
    LEFT JOIN (SELECT name FROM kept WHERE dimension = 'sender') AS ks ON ks.name = s.sender
)
SELECT
    CASE WHEN NOT other_conversation THEN conversation_id END AS conversation_id,
    CASE WHEN NOT other_channel THEN channel END AS channel,
    CASE WHEN NOT other_sender THEN sender END AS sender,
    other_conversation, other_channel, other_sender,
    CASE WHEN $grain::VARCHAR = 'none' THEN NULL
         ELSE date_trunc(CASE WHEN $grain::VARCHAR IN ('week', 'month') THEN $grain::VARCHAR ELSE 'day' END,
                         timezone('UTC', sent_at))
    END AS period,
    author_emotion, reader_emotion, shift_kind,
    count(*) AS messages,
    count(*) FILTER (WHERE shifted) AS shifted,
    sum(js_divergence) AS divergence,
    sum(shift_score) AS score,
    sum(valence_gap) AS valence_gap,
    count(valence_gap) AS valence_gaps,
    sum(sarcasm) AS sarcasm,
    count(sarcasm) AS sarcasms
FROM marked
GROUP BY ALL
LIMIT $max_rows::INTEGER + 1;
