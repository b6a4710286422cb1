-- run_metadata: the scoring runs, newest first, with both lenses' versions, encoders and metrics,
-- and how many of the messages in scope each run scored.
--
-- Returns: run_id, started_at, finished_at, status, author_version, reader_version, processes,
-- seconds, counts, settings (JSON text), author_encoder, author_metrics, reader_encoder,
-- reader_metrics (JSON text; NULL when the lens is not recorded), messages_in_scope.
--
-- Parameters (NULL means no filter; the filters choose which messages are counted, not runs):
--   $start TIMESTAMPTZ, $end TIMESTAMPTZ (half-open [start, end)), $conversation, $channel,
--   $sender VARCHAR exact matches; $limit INTEGER the number of runs.
WITH per_run AS (
    SELECT run_id, count(*) AS messages
    FROM in_scope($start, $end, $conversation, $channel, $sender)
    GROUP BY run_id
)
SELECT
    r.run_id, r.started_at, r.finished_at, r.status, r.author_version, r.reader_version,
    r.processes, r.seconds, r.counts::VARCHAR AS counts, r.settings::VARCHAR AS settings,
    a.encoder AS author_encoder, a.metrics::VARCHAR AS author_metrics,
    b.encoder AS reader_encoder, b.metrics::VARCHAR AS reader_metrics,
    coalesce(s.messages, 0) AS messages_in_scope
FROM runs AS r
LEFT JOIN lenses AS a ON a.version = r.author_version
LEFT JOIN lenses AS b ON b.version = r.reader_version
LEFT JOIN per_run AS s ON s.run_id = r.run_id
ORDER BY r.started_at DESC NULLS LAST, r.run_id
LIMIT $limit::INTEGER;
