-- Runs left 'running' whose inputs include a file of this corpus as it no longer is (another size
-- or modification time): they can never resume, since their run key named the old file.
-- $files: this corpus's files as [{path, size, mtime_ns}].
SELECT r.run_id
FROM runs AS r, unnest(CAST(r.inputs AS JSON[])) AS i(f), unnest(CAST($files AS JSON[])) AS c(g)
WHERE r.status = 'running'
  AND f->>'path' = g->>'path'
  AND (f->>'size' <> g->>'size' OR f->>'mtime_ns' <> g->>'mtime_ns')
GROUP BY r.run_id
ORDER BY r.run_id;
