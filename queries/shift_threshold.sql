-- shift_threshold: set the session variable message_lenses.shifted compares shift_score with.
--
-- Without it the view uses its default, 0.6 (docs/labels.md says why). echoroom sets it from the
-- report's shift_threshold setting; in plain duckdb run `SET VARIABLE shift_threshold = 0.7`.
-- Parameters: $threshold DOUBLE in (0, 1).
SET VARIABLE shift_threshold = $threshold::DOUBLE;
