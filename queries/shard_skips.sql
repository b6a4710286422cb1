-- Skipped messages in a run's shards by reason ('null text', 'empty text', 'language de', ...).
SELECT skip_reason, count(*) AS n
FROM read_parquet($files)
WHERE status = 'skipped'
GROUP BY skip_reason
ORDER BY n DESC, skip_reason;
