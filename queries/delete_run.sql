-- Forget a run that never finished: nothing else refers to it (its predictions are only loaded,
-- with the run's row marked finished, in one transaction).
DELETE FROM runs WHERE run_id = $run_id AND status = 'running';
