-- A message keeps the fields of the run that first loaded it (message ids are immutable).
INSERT INTO messages (message_id, conversation_id, sender, sent_at, channel, text, extra, source_file, first_run_id)
SELECT message_id, conversation_id, sender, sent_at, channel, text, extra::JSON, source_file, $run_id
FROM read_parquet($files)
ON CONFLICT DO NOTHING;
