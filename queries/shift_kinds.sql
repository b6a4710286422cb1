-- shift_kinds: how the two lenses' top emotions differ, one row per kind, for the messages in scope.
--
-- Kinds (docs/labels.md): misread (two different emotions), tone_lost (an emotion read as
-- neutral), tone_added (neutral read as an emotion), none (the same top emotion). A kind says how
-- the top emotions differ; shifted (shift_score at or above the threshold) says how likely the
-- meaning shifts, so a message of kind none can be shifted (likely sarcasm) and a misread one not.
--
-- Returns: shift_kind, messages, share (of the messages in scope), shifted (of them, how many are
-- flagged), shift_rate, mean_score (mean shift_score), mean_valence_gap (author minus reader
-- valence, NULL for lenses without scales), mean_sarcasm.
--
-- Parameters (NULL means no filter):
--   $start TIMESTAMPTZ, $end TIMESTAMPTZ (half-open [start, end)), $conversation, $channel,
--   $sender VARCHAR exact matches.
SELECT
    shift_kind,
    count(*) AS messages,
    count(*)::DOUBLE / sum(count(*)) OVER () AS share,
    count(*) FILTER (WHERE shifted) AS shifted,
    count(*) FILTER (WHERE shifted)::DOUBLE / count(*) AS shift_rate,
    avg(shift_score) AS mean_score,
    avg(valence_gap) AS mean_valence_gap,
    avg(sarcasm) AS mean_sarcasm
FROM in_scope($start, $end, $conversation, $channel, $sender)
GROUP BY shift_kind
ORDER BY messages DESC, shift_kind;
