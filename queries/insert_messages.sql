-- A message keeps the fields of the run that first loaded it (message ids are immutable); only a
-- language it lacks (it was loaded before language detection) is filled in by a later run.
-- union_by_name: a run resumed across an upgrade has shards without reply_to and platform (older
-- versions kept them in extra, which the schema's upgrade moves); those read as NULL. (Runs from
-- before language detection are not resumed: the lenses' languages are part of the run key.)
INSERT INTO messages (message_id, conversation_id, sender, sent_at, channel, text, reply_to, platform, extra,
                      source_file, first_run_id, language)
SELECT message_id, conversation_id, sender, sent_at, channel, text, reply_to, platform, extra::JSON,
       source_file, $run_id, language
FROM read_parquet($files, union_by_name = true)
ON CONFLICT (message_id) DO UPDATE SET language = excluded.language
WHERE messages.language IS NULL;
