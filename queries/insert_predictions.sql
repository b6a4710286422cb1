-- Both lenses' predictions from a run's shards; a (message, lens version) already stored is kept.
INSERT INTO predictions
SELECT message_id, 'author', $author_version, $run_id, status, skip_reason, truncated, n_tokens,
       author_emotion, author_confidence, author_probs, author_labels,
       author_valence, author_arousal, author_sarcasm
FROM read_parquet($files, union_by_name = true)
UNION ALL
SELECT message_id, 'reader', $reader_version, $run_id, status, skip_reason, truncated, n_tokens,
       reader_emotion, reader_confidence, reader_probs, reader_labels,
       reader_valence, reader_arousal, NULL
FROM read_parquet($files, union_by_name = true)
ON CONFLICT DO NOTHING;
