-- Data check: message ids that occur in more than one shard row of a run. Zero rows means it passes.
SELECT message_id, count(*) AS n
FROM read_parquet($files)
GROUP BY message_id
HAVING count(*) > 1
ORDER BY message_id
LIMIT 10;
