INSERT INTO runs (run_id, started_at, status, author_version, reader_version, settings, inputs, processes)
VALUES ($run_id, $started_at, 'running', $author_version, $reader_version, $settings, $inputs, $processes);
