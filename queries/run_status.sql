-- The status of one run ('running' or 'finished'), no row if unknown.
SELECT status FROM runs WHERE run_id = $run_id;
