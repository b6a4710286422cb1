-- rows, scored, skipped, truncated over a run's shards.
SELECT count(*),
       count(*) FILTER (WHERE status = 'scored'),
       count(*) FILTER (WHERE status = 'skipped'),
       count(*) FILTER (WHERE truncated)
FROM read_parquet($files);
