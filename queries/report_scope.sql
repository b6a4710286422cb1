-- report_scope: snapshot the messages in scope into a temporary table named message_lenses.
--
-- Run once on a fresh connection before the report's other queries. The temporary table shadows
-- the message_lenses view for the rest of that connection (DuckDB looks in temp before main), so
-- every section of one report reads the same snapshot and the view's per-row Jensen-Shannon
-- divergence is computed once instead of once per section (about 3 s per pass at 1M messages).
-- The other report queries read "message_lenses" through the in_scope macro (queries/macros.sql),
-- which looks the name up when they run: the snapshot here, the view on any other connection, so
-- they also run unchanged against the view. While this statement runs, the temporary table does
-- not exist yet, so in_scope reads the view. Only the columns the report reads are kept; the
-- per-label probabilities are not.
--
-- Parameters (NULL means no filter):
--   $start TIMESTAMPTZ, $end TIMESTAMPTZ (half-open [start, end)), $conversation, $channel,
--   $sender VARCHAR exact matches.
CREATE TEMPORARY TABLE message_lenses AS
SELECT
    message_id, conversation_id, sender, sent_at, channel, text, run_id,
    author_version, reader_version, author_emotion, author_confidence,
    reader_emotion, reader_confidence, author_labels, reader_labels,
    js_divergence, shift_kind, shift_score, shifted, valence_gap, sarcasm, truncated
FROM in_scope($start, $end, $conversation, $channel, $sender);
