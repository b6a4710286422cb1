-- Corpus messages (the registered table corpus_ids) that both lenses of this pair already scored
-- or skipped: an incremental run leaves them out.
SELECT c.message_id
FROM corpus_ids c
WHERE c.message_id IN (SELECT message_id FROM predictions WHERE lens = 'author' AND lens_version = $author_version)
  AND c.message_id IN (SELECT message_id FROM predictions WHERE lens = 'reader' AND lens_version = $reader_version)
ORDER BY c.message_id;
