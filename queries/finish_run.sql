UPDATE runs SET status = 'finished', finished_at = $finished_at, counts = $counts, seconds = $seconds
WHERE run_id = $run_id;
