-- The scoring runs the Parquet lake exports (echoroom/lake.py), in the order they finished, then
-- those still running or interrupted: those hold no predictions yet and are not exported.
SELECT run_id, status, author_version, reader_version, finished_at
FROM runs
ORDER BY finished_at NULLS LAST, run_id;
