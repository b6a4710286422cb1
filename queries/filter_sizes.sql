-- filter_sizes: how many rows filter_groups would return for each way of counting it, estimated in
-- one pass, finest first, so the report asks for the finest table that fits its cap without
-- running filter_groups once per try.
--
-- The ways, in the order the report tries them: per UTC day, ISO week, month, then without time,
-- every name kept; then per month keeping only the busiest 1,000, 300, 100, 30 and 10 names of each
-- of conversation, channel and sender (the others counted together); then the busiest 10 without
-- time. A table with 2,000 conversations and 5,000 senders that talk in all of them has nearly one
-- group per message at any grain until names are dropped.
--
-- Returns: choice (1 first), grain ('day', 'week', 'month' or 'none', as filter_groups takes it),
-- keep (its $limit: names kept per dimension, NULL for all), groups (approximate, HyperLogLog,
-- within a few percent; filter_groups' own row cap is the exact check).
--
-- Parameters (NULL means no filter):
--   $start TIMESTAMPTZ, $end TIMESTAMPTZ (half-open [start, end)), $conversation, $channel,
--   $sender VARCHAR exact matches.
WITH scoped AS (SELECT * FROM in_scope($start, $end, $conversation, $channel, $sender)),
-- each name's place among its dimension's, busiest first, ties by name (as filter_groups keeps them)
places AS (
    SELECT dimension, name, row_number() OVER (PARTITION BY dimension ORDER BY messages DESC, name) AS place
    FROM (SELECT 'conversation' AS dimension, conversation_id AS name, count(*) AS messages
          FROM scoped WHERE conversation_id IS NOT NULL GROUP BY conversation_id
          UNION ALL
          SELECT 'channel', channel, count(*) FROM scoped WHERE channel IS NOT NULL GROUP BY channel
          UNION ALL
          SELECT 'sender', sender, count(*) FROM scoped WHERE sender IS NOT NULL GROUP BY sender)
),
-- the names as their places (0 for none): what a group key needs, whether a name is kept or not
marked AS (
    SELECT coalesce(pc.place, 0) AS pc, coalesce(pch.place, 0) AS pch, coalesce(ps.place, 0) AS ps,
           timezone('UTC', s.sent_at) AS utc, s.author_emotion, s.reader_emotion, s.shift_kind
    FROM scoped AS s
    LEFT JOIN (SELECT name, place FROM places WHERE dimension = 'conversation') AS pc ON pc.name = s.conversation_id
    LEFT JOIN (SELECT name, place FROM places WHERE dimension = 'channel') AS pch ON pch.name = s.channel
    LEFT JOIN (SELECT name, place FROM places WHERE dimension = 'sender') AS ps ON ps.name = s.sender
),
-- One HyperLogLog per way, side by side in one pass (a cross join with the ways would hash ten
-- copies of every message), in the order of the ways below. Keeping N names, every place past N
-- becomes N + 1 in the key: one value for "the others", apart from 0 (none) and the kept ones.
estimates AS (
    SELECT [approx_count_distinct((pc, pch, ps, date_trunc('day', utc), author_emotion, reader_emotion, shift_kind)),
            approx_count_distinct((pc, pch, ps, date_trunc('week', utc), author_emotion, reader_emotion, shift_kind)),
            approx_count_distinct((pc, pch, ps, date_trunc('month', utc), author_emotion, reader_emotion, shift_kind)),
            approx_count_distinct((pc, pch, ps, author_emotion, reader_emotion, shift_kind)),
            approx_count_distinct((least(pc, 1001), least(pch, 1001), least(ps, 1001),
                                   date_trunc('month', utc), author_emotion, reader_emotion, shift_kind)),
            approx_count_distinct((least(pc, 301), least(pch, 301), least(ps, 301),
                                   date_trunc('month', utc), author_emotion, reader_emotion, shift_kind)),
            approx_count_distinct((least(pc, 101), least(pch, 101), least(ps, 101),
                                   date_trunc('month', utc), author_emotion, reader_emotion, shift_kind)),
            approx_count_distinct((least(pc, 31), least(pch, 31), least(ps, 31),
                                   date_trunc('month', utc), author_emotion, reader_emotion, shift_kind)),
            approx_count_distinct((least(pc, 11), least(pch, 11), least(ps, 11),
                                   date_trunc('month', utc), author_emotion, reader_emotion, shift_kind)),
            approx_count_distinct((least(pc, 11), least(pch, 11), least(ps, 11),
                                   author_emotion, reader_emotion, shift_kind))] AS groups
    FROM marked
)
SELECT choice, grain, keep, groups[choice] AS groups
FROM estimates, (VALUES (1, 'day', NULL::INTEGER), (2, 'week', NULL), (3, 'month', NULL), (4, 'none', NULL),
                        (5, 'month', 1000), (6, 'month', 300), (7, 'month', 100), (8, 'month', 30),
                        (9, 'month', 10), (10, 'none', 10)) AS ways(choice, grain, keep)
ORDER BY choice;
