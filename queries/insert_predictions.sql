-- Both lenses' predictions from a run's shards; a (message, lens version) already stored is kept.
INSERT INTO predictions
SELECT message_id, 'author', $author_version, $run_id, status, skip_reason, truncated, n_tokens,
       author_emotion, author_confidence, author_probs, author_labels
FROM read_parquet($files)
UNION ALL
SELECT message_id, 'reader', $reader_version, $run_id, status, skip_reason, truncated, n_tokens,
       reader_emotion, reader_confidence, reader_probs, reader_labels
FROM read_parquet($files)
ON CONFLICT DO NOTHING;
