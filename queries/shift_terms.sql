-- shift_terms: words and two-word phrases that come with shifted messages, stopwords left out.
--
-- Text is lower-cased and split on anything that is not a letter, digit or apostrophe; a term is a
-- word of two or more characters holding a letter that is not in $stopwords, or two adjacent words
-- that are not both stopwords. Each message counts a term once (document frequency).
--
-- Returns: term, words (1 or 2), support (messages containing it), shifted (of those, how many
-- shifted), shift_rate, in_shifted (share of shifted messages containing it), in_unshifted (share
-- of non-shifted messages containing it), lift = in_shifted / in_unshifted, each share smoothed
-- by adding 0.5 to the count and 1 to the total so a term absent from one side has a finite lift
-- (the report adds its 95% interval: echoroom/report/terms.py, lift_interval).
-- Only terms with lift > 1 and at least $min_support messages; highest lift first; $limit rows.
--
-- Parameters (NULL means no filter):
--   $start TIMESTAMPTZ, $end TIMESTAMPTZ (half-open [start, end)), $conversation, $channel,
--   $sender VARCHAR exact matches; $min_support INTEGER (NULL: 1); $limit INTEGER (NULL: all);
--   $stopwords VARCHAR[] lower-case words that are never terms on their own (NULL: none).
WITH scoped AS (SELECT * FROM in_scope($start, $end, $conversation, $channel, $sender)),
tokens AS (
    SELECT shifted,
           -- Runs of letters, digits and apostrophes holding a letter, in one regex pass (a
           -- split, then a regex test of every piece, took 1.5x as long at 1M messages).
           list_filter(regexp_extract_all(lower(coalesce(text, '')), '[\p{L}\p{N}'']*\p{L}[\p{L}\p{N}'']*'),
                       lambda w: length(w) >= 2) AS words
    FROM scoped
),
docs AS (
    SELECT shifted,
           list_distinct(words || list_transform(range(1, len(words)),
                                                 lambda i: words[i] || ' ' || words[i + 1])) AS terms
    FROM tokens
),
totals AS (
    SELECT count(*) AS n, count(*) FILTER (WHERE shifted) AS n_shifted FROM scoped
),
counts AS (
    SELECT term, count(*) AS support, count(*) FILTER (WHERE shifted) AS shifted
    FROM (SELECT unnest(terms) AS term, shifted FROM docs)
    GROUP BY term
    HAVING count(*) >= coalesce($min_support::INTEGER, 1)
),
kept AS (
    -- Stopwords are dropped after counting, once per distinct term rather than once per word of
    -- every message: the counts of the other terms do not depend on them.
    SELECT counts.* FROM counts, (SELECT coalesce($stopwords::VARCHAR[], []::VARCHAR[]) AS stop)
    WHERE NOT (list_contains(stop, split_part(term, ' ', 1))
               AND (NOT contains(term, ' ') OR list_contains(stop, split_part(term, ' ', 2))))
),
rated AS (
    SELECT
        term,
        CASE WHEN contains(term, ' ') THEN 2 ELSE 1 END AS words,
        support, shifted,
        shifted::DOUBLE / support AS shift_rate,
        (shifted + 0.5) / (n_shifted + 1) AS in_shifted,
        (support - shifted + 0.5) / (n - n_shifted + 1) AS in_unshifted
    FROM kept, totals
)
SELECT term, words, support, shifted, shift_rate, in_shifted, in_unshifted,
       in_shifted / in_unshifted AS lift
FROM rated
WHERE in_shifted > in_unshifted
ORDER BY lift DESC, support DESC, term
LIMIT $limit::INTEGER;
