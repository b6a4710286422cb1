-- The Echo Room DuckDB schema. Idempotent: every statement may run on an existing database.
-- Documented column by column in docs/schema.md; probability vectors follow echoroom/labels.py
-- LABELS order: joy, anger, sadness, fear, surprise, disgust, love, gratitude, neutral, pride.

CREATE TABLE IF NOT EXISTS messages (
    message_id      VARCHAR PRIMARY KEY,
    conversation_id VARCHAR,
    sender          VARCHAR,
    sent_at         TIMESTAMPTZ,
    channel         VARCHAR,
    text            VARCHAR,
    extra           JSON,          -- the corpus's other columns, by name; NULL when there were none
    source_file     VARCHAR,       -- the Parquet file the message was first loaded from
    first_run_id    VARCHAR,       -- the run that first loaded it
    reply_to        VARCHAR,       -- message_id of the message it replies to, where the platform says
    platform        VARCHAR,       -- whatsapp, discord, telegram, slack, or the corpus's own value
    language        VARCHAR        -- ISO 639-1 as detected when scored, 'und' undetermined; NULL: no text
);

-- Databases made before reply_to and platform were columns: add them (last, so that new and
-- upgraded files have one column order) and move their values out of extra, where those versions
-- kept them. After the move no extra holds either key, so on later runs this matches no row.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS reply_to VARCHAR;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS platform VARCHAR;
UPDATE messages
SET reply_to = coalesce(reply_to, extra->>'reply_to'),
    platform = coalesce(platform, extra->>'platform'),
    extra = nullif(json_merge_patch(extra, '{"reply_to": null, "platform": null}'), '{}')
WHERE json_exists(extra, '$.reply_to') OR json_exists(extra, '$.platform');

-- Databases made before language detection: the column is added (last, as above) and stays NULL
-- until a later run scores the message again (a new lens version), which fills it in.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS language VARCHAR;

CREATE TABLE IF NOT EXISTS predictions (
    message_id   VARCHAR NOT NULL,
    lens         VARCHAR NOT NULL CHECK (lens IN ('author', 'reader')),
    lens_version VARCHAR NOT NULL,
    run_id       VARCHAR NOT NULL,
    status       VARCHAR NOT NULL CHECK (status IN ('scored', 'skipped')),
    skip_reason  VARCHAR,          -- 'null text' | 'empty text' | 'language xx' when skipped, else NULL
    truncated    BOOLEAN NOT NULL, -- the text was longer than the model limit and was cut
    n_tokens     INTEGER,          -- tokens the model read, special tokens included
    emotion      VARCHAR,          -- top-1 label; NULL when skipped
    confidence   FLOAT,            -- its probability
    probs        FLOAT[10],        -- calibrated distribution in LABELS order
    labels       VARCHAR[],        -- labels at or above their tuned thresholds, most probable first
    -- Exactly once: a message is scored at most once per lens version, whatever the re-runs.
    PRIMARY KEY (message_id, lens_version)
);

-- Scales read with the emotions (lenses with scale heads; NULL otherwise): valence and arousal on
-- EmoBank's 1-5 scale, from the lens's perspective (author: the writer's; reader: the reader's),
-- and the author lens's probability that the author meant the message sarcastically. Added last,
-- so databases made before them are upgraded in place.
ALTER TABLE predictions ADD COLUMN IF NOT EXISTS valence FLOAT;
ALTER TABLE predictions ADD COLUMN IF NOT EXISTS arousal FLOAT;
ALTER TABLE predictions ADD COLUMN IF NOT EXISTS sarcasm FLOAT;

CREATE TABLE IF NOT EXISTS runs (
    run_id         VARCHAR PRIMARY KEY,
    started_at     TIMESTAMPTZ NOT NULL,
    finished_at    TIMESTAMPTZ,
    status         VARCHAR NOT NULL CHECK (status IN ('running', 'finished')),
    author_version VARCHAR NOT NULL,
    reader_version VARCHAR NOT NULL,
    settings       JSON,
    inputs         JSON,
    processes      INTEGER,
    counts         JSON,
    seconds        DOUBLE
);

CREATE TABLE IF NOT EXISTS lenses (
    version VARCHAR PRIMARY KEY,
    lens    VARCHAR NOT NULL,
    encoder VARCHAR NOT NULL,
    info    JSON NOT NULL,
    metrics JSON
);

-- Jensen-Shannon divergence, base 2, so it lies in [0, 1]; 0 * log 0 counts as 0.
-- Computed in double precision; the clamp only absorbs rounding at the two ends. Over the zipped
-- pairs rather than by index: 4x faster (p[i] looks each list up again for every i).
CREATE OR REPLACE MACRO js_divergence(p, q) AS greatest(0.0, least(1.0, 0.5 * list_sum(
    list_transform(list_zip(p::DOUBLE[], q::DOUBLE[]), lambda x:
        CASE WHEN x[1] > 0 THEN x[1] * log2(2 * x[1] / (x[1] + x[2])) ELSE 0 END
      + CASE WHEN x[2] > 0 THEN x[2] * log2(2 * x[2] / (x[1] + x[2])) ELSE 0 END))));

-- How the two lenses' top emotions differ (echoroom/lenses/shift.py: kind).
CREATE OR REPLACE MACRO shift_kind(author_emotion, reader_emotion) AS CASE
    WHEN author_emotion = reader_emotion THEN 'none'
    WHEN reader_emotion = 'neutral' THEN 'tone_lost'
    WHEN author_emotion = 'neutral' THEN 'tone_added'
    ELSE 'misread' END;

-- The shift score (echoroom/lenses/shift.py: score): a logistic regression over the divergence,
-- whether the top emotions differ, the absolute valence gap and the sarcasm probability, with
-- the weights saved in the author lens (lenses.info.shift); missing scales count as 0, and a lens
-- without weights scores by divergence alone.
CREATE OR REPLACE MACRO shift_score(jsd, author_probs, reader_probs, gap, sarcasm, model) AS CASE
    WHEN (model->>'bias') IS NULL THEN jsd
    ELSE 1.0 / (1.0 + exp(-(
        (model->>'bias')::DOUBLE
        + (model->>'js_divergence')::DOUBLE * jsd
        + (model->>'differ')::DOUBLE
            * CASE WHEN list_position(author_probs, list_max(author_probs))
                     <> list_position(reader_probs, list_max(reader_probs)) THEN 1 ELSE 0 END
        + (model->>'abs_valence_gap')::DOUBLE * coalesce(abs(gap), 0)
        + (model->>'sarcasm')::DOUBLE * coalesce(sarcasm, 0)))) END;

-- The lens pair users see: the versions of the most recent finished run.
CREATE OR REPLACE VIEW current_lenses AS
SELECT author_version, reader_version, run_id
FROM runs
WHERE status = 'finished'
ORDER BY finished_at DESC, run_id DESC
LIMIT 1;

-- One row per message that both lenses of the current pair scored (skipped messages are in
-- predictions with status 'skipped', not here).
CREATE OR REPLACE VIEW message_lenses AS
SELECT
    m.message_id,
    m.conversation_id,
    m.sender,
    m.sent_at,
    m.channel,
    m.text,
    m.reply_to,
    m.platform,
    m.language,
    a.run_id,
    a.lens_version AS author_version,
    r.lens_version AS reader_version,
    a.emotion AS author_emotion,
    a.confidence AS author_confidence,
    r.emotion AS reader_emotion,
    r.confidence AS reader_confidence,
    a.labels AS author_labels,
    r.labels AS reader_labels,
    d.js_divergence,
    shift_kind(a.emotion, r.emotion) AS shift_kind,
    s.shift_score,
    -- The threshold is the session's ``shift_threshold`` variable (set by echoroom from its
    -- setting), else the default justified in docs/labels.md.
    s.shift_score >= coalesce(getvariable('shift_threshold'), 0.6) AS shifted,
    a.valence AS author_valence,
    a.arousal AS author_arousal,
    r.valence AS reader_valence,
    r.arousal AS reader_arousal,
    a.valence - r.valence AS valence_gap,
    a.sarcasm,
    a.truncated,
    a.probs[1] AS author_joy,
    a.probs[2] AS author_anger,
    a.probs[3] AS author_sadness,
    a.probs[4] AS author_fear,
    a.probs[5] AS author_surprise,
    a.probs[6] AS author_disgust,
    a.probs[7] AS author_love,
    a.probs[8] AS author_gratitude,
    a.probs[9] AS author_neutral,
    a.probs[10] AS author_pride,
    r.probs[1] AS reader_joy,
    r.probs[2] AS reader_anger,
    r.probs[3] AS reader_sadness,
    r.probs[4] AS reader_fear,
    r.probs[5] AS reader_surprise,
    r.probs[6] AS reader_disgust,
    r.probs[7] AS reader_love,
    r.probs[8] AS reader_gratitude,
    r.probs[9] AS reader_neutral,
    r.probs[10] AS reader_pride
FROM current_lenses c
JOIN predictions a ON a.lens = 'author' AND a.lens_version = c.author_version AND a.status = 'scored'
JOIN predictions r ON r.lens = 'reader' AND r.lens_version = c.reader_version AND r.status = 'scored'
                  AND r.message_id = a.message_id
JOIN messages m ON m.message_id = a.message_id
LEFT JOIN lenses la ON la.version = c.author_version,
-- The divergence once per row, for its column and for the score.
LATERAL (SELECT js_divergence(a.probs, r.probs) AS js_divergence) d,
LATERAL (SELECT shift_score(d.js_divergence, a.probs, r.probs, a.valence - r.valence, a.sarcasm,
                            la.info->'shift') AS shift_score) s;
