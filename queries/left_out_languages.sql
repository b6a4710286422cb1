-- left_out_languages: the messages in scope that the current lens pair did not score because they
-- are in another language than the lenses read (skip_reason 'language xx'), counted per language.
--
-- Returns: language (ISO 639-1 code, as the detector gave it), messages. Most messages first;
-- no rows when nothing was left out.
--
-- Parameters (NULL means no filter):
--   $start TIMESTAMPTZ, $end TIMESTAMPTZ (half-open [start, end)), $conversation, $channel,
--   $sender VARCHAR exact matches.
--
-- The scope is that of message_lenses, applied to messages (skipped messages are not in
-- message_lenses); the language comes from the skip reason, which is what the current pair did.
SELECT
    substr(p.skip_reason, length('language ') + 1) AS language,
    count(*) AS messages
FROM in_scope($start, $end, $conversation, $channel, $sender, scope_table := 'messages') AS m
JOIN current_lenses AS c ON true
JOIN predictions AS p
  ON p.message_id = m.message_id AND p.lens = 'author' AND p.lens_version = c.author_version
WHERE p.status = 'skipped' AND starts_with(p.skip_reason, 'language ')
GROUP BY p.skip_reason
ORDER BY messages DESC, p.skip_reason;
