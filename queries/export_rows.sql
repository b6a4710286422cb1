-- One finished run's rows for the Parquet lake (echoroom/lake.py): the message_lenses rows of the
-- run's lens pair that became readable with this run, plus `day`, the UTC date sent (NULL when
-- sent_at is), ordered by day so the writer keeps one file open at a time.
--
-- Run export_pair first on the connection, so message_lenses shows this run's pair. A row is
-- readable once both its predictions are loaded, i.e. when the later of their runs finished; it
-- belongs to the first run of its pair that finished then or after. That is the run that scored
-- it, except where another pair's run completed it (an author version shared with another reader
-- version): then the pair's next run, which found it already scored. Each row of a pair so belongs
-- to exactly one of the pair's runs, and a run's rows never change once it finished. Predictions
-- whose run is missing from runs count as loaded before every run.
-- $run_id: the run.
WITH finished AS (
    SELECT run_id, author_version, reader_version, row_number() OVER (ORDER BY finished_at, run_id) AS seq
    FROM runs
    WHERE status = 'finished'
), this_run AS (
    SELECT * FROM finished WHERE run_id = $run_id
), span AS (
    -- (after, upto]: after the pair's previous run, up to this one
    SELECT t.seq AS upto, coalesce(max(p.seq), 0) AS after
    FROM this_run AS t
    LEFT JOIN finished AS p
        ON p.author_version = t.author_version AND p.reader_version = t.reader_version AND p.seq < t.seq
    GROUP BY t.seq
), readable AS (
    SELECT ml.*, greatest(coalesce(fa.seq, 0), coalesce(fr.seq, 0)) AS readable_seq
    FROM message_lenses AS ml
    JOIN this_run AS t ON ml.author_version = t.author_version AND ml.reader_version = t.reader_version
    JOIN predictions AS r ON r.message_id = ml.message_id AND r.lens = 'reader' AND r.lens_version = ml.reader_version
    LEFT JOIN finished AS fa ON fa.run_id = ml.run_id
    LEFT JOIN finished AS fr ON fr.run_id = r.run_id
)
SELECT readable.* EXCLUDE (readable_seq), CAST(timezone('UTC', sent_at) AS DATE) AS day
FROM readable, span
WHERE readable_seq > span.after AND readable_seq <= span.upto
ORDER BY day NULLS LAST, message_id;
