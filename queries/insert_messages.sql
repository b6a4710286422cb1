-- A message keeps the fields of the run that first loaded it (message ids are immutable).
-- union_by_name: a run resumed across an upgrade has shards without reply_to and platform (older
-- versions kept them in extra, which the schema's upgrade moves); those read as NULL.
INSERT INTO messages (message_id, conversation_id, sender, sent_at, channel, text, reply_to, platform, extra,
                      source_file, first_run_id)
SELECT message_id, conversation_id, sender, sent_at, channel, text, reply_to, platform, extra::JSON,
       source_file, $run_id
FROM read_parquet($files, union_by_name = true)
ON CONFLICT DO NOTHING;
