-- macros: the SQL pieces the report queries share, defined once for every connection.
--
-- store.connect runs this file on every connection it opens, read-only ones included. The macros
-- are TEMP, so they live in the connection, not in the database file: they work on a read-only
-- connection and on a database made before they existed, and a change here needs no migration.
-- Using the queries from plain duckdb? Run this file on the connection first.
--
-- in_scope(scope_start, scope_end, scope_conversation, scope_channel, scope_sender)
--   Table macro: the rows of message_lenses in scope. NULL means no filter; the period is
--   half-open [scope_start, scope_end); the others are exact matches. The parameters are not
--   named like the columns because a macro parameter would replace the column of the same name.
--   The table is named through query_table() and a parameter, so DuckDB looks it up each time a
--   query uses the macro, not when the macro is made: after report_scope it finds the report's
--   snapshot (a temp table named message_lenses) and otherwise the view, and a database without
--   message_lenses (not scored into yet, or not ours) still opens, failing only where it is read.
--
-- wilson_low(k, n), wilson_high(k, n)
--   The 95% Wilson score interval (Wilson 1927) of the rate k / n: it stays inside [0, 1] and is
--   honest for small n, which is why rankings sort by its lower end. With n = 0 nothing is known:
--   0 and 1.
CREATE OR REPLACE TEMP MACRO in_scope(scope_start, scope_end, scope_conversation, scope_channel, scope_sender,
                                     scope_table := 'message_lenses')
AS TABLE
SELECT * FROM query_table(scope_table)
WHERE (scope_start::TIMESTAMPTZ IS NULL OR sent_at >= scope_start::TIMESTAMPTZ)
  AND (scope_end::TIMESTAMPTZ IS NULL OR sent_at < scope_end::TIMESTAMPTZ)
  AND (scope_conversation::VARCHAR IS NULL OR conversation_id = scope_conversation::VARCHAR)
  AND (scope_channel::VARCHAR IS NULL OR channel = scope_channel::VARCHAR)
  AND (scope_sender::VARCHAR IS NULL OR sender = scope_sender::VARCHAR);

-- One end of the interval around p over n trials: side -1 for the lower end, +1 for the upper.
CREATE OR REPLACE TEMP MACRO wilson_bound(p, n, side, z := 1.959964) AS
    (p + z * z / (2 * n) + side * z * sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n);

-- n as DOUBLE: 4 * n * n overflows an INTEGER n past 23 170 (a BIGINT count only past 1.5e9).
CREATE OR REPLACE TEMP MACRO wilson_low(k, n) AS
    greatest(0.0, wilson_bound(k::DOUBLE / nullif(n, 0), n::DOUBLE, -1));

CREATE OR REPLACE TEMP MACRO wilson_high(k, n) AS
    least(1.0, wilson_bound(k::DOUBLE / nullif(n, 0), n::DOUBLE, 1));
