-- Make one finished run's lens pair the current pair, for this connection only (echoroom/lake.py).
--
-- The temporary table shadows the current_lenses view (DuckDB looks in temp before main, as
-- report_scope relies on too), so message_lenses, which reads current_lenses, shows that pair's
-- rows: the lake exports every pair through the one view instead of a copy of it. Nothing in the
-- database changes; run it on a connection that reads nothing else.
-- $run_id: a finished run (no row, so an empty message_lenses, for any other).
CREATE OR REPLACE TEMPORARY TABLE current_lenses AS
SELECT author_version, reader_version, run_id
FROM runs
WHERE run_id = $run_id AND status = 'finished';
