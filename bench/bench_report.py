"""Benchmark: the full report (HTML + .eml) over a DuckDB holding 1M scored messages.

    .venv/bin/python bench/bench_report.py [--messages=1000000] [--keep=PATH]

Messages and both lenses' predictions are synthesised in DuckDB (range() and hash-based
pseudo-random probabilities) straight into the real schema, so nothing but the store's DDL is
assumed. The baseline, measured in the same run on the same file, is what the report must never
do: pull every scored row into Python and aggregate there (only the headline figures, the
matrix and the three rankings, under half of the report's queries, and no rendering). Prints both
times and their ratio, the size of report.html and of what it embeds, how the filters' table was
counted (docs/reports.md, "Filters"), and the time that table takes on the same snapshot.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from echoroom import store
from echoroom.labels import LABELS

# Vocabulary for synthetic text; the "hedge" words are made likelier in shifted messages so the
# shift-terms section has something real to find.
WORDS = ("the a and to of it is that you we for on this with was just so can what about then "
         "meeting later tonight deadline plan coffee team call update weekend project news work "
         "great thanks love happy sorry worried angry tired proud wow really very").split()
HEDGES = ("fine", "sure", "whatever", "ok then", "if you say so", "noted")

# Every value below is a bound parameter or a constant; nothing from outside is formatted in.
SYNTH_MESSAGES = """
INSERT INTO messages (message_id, conversation_id, sender, sent_at, channel, text)
SELECT
    'm' || i,
    'conv-' || (hash(i, 'c') % 2000),
    'user-' || (hash(i, 's') % 5000),
    TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_seconds((hash(i, 't') % (180 * 86400))::BIGINT),
    ['slack', 'discord', 'whatsapp', 'telegram', 'email'][1 + (hash(i, 'ch') % 5)::BIGINT],
    array_to_string(list_transform(range(0, 4 + (hash(i, 'n') % 10)::BIGINT),
        lambda k: $words[1 + (hash(i, k) % len($words))::BIGINT]), ' ')
      || CASE WHEN hash(i, 'r') % 100 >= 70 AND hash(i, 'h') % 3 = 0
              THEN ' ' || $hedges[1 + (hash(i, 'hw') % len($hedges))::BIGINT] ELSE '' END
FROM range($n) AS t(i)
"""

SYNTH_PREDICTIONS = """
INSERT INTO predictions (message_id, lens, lens_version, run_id, status, truncated, n_tokens,
                         emotion, confidence, probs, labels)
WITH tops AS (
    SELECT i, lens, (CASE WHEN lens = 'author' THEN hash(i, 'a') % 10
                          WHEN hash(i, 'r') % 100 < 70 THEN hash(i, 'a') % 10
                          ELSE hash(i, 'x') % 10 END)::BIGINT AS top
    FROM range($n) AS t(i), (VALUES ('author'), ('reader')) AS l(lens)
),
raw AS (
    SELECT i, lens, top, list_transform(range(10),
        lambda j: (CASE WHEN j = top THEN 2.0 + (hash(i, lens, 'p') % 1000) / 250.0 ELSE 0.0 END)
                  + (hash(i, lens, j) % 1000) / 1000.0) AS w
    FROM tops
),
probs AS (SELECT i, lens, top, list_transform(w, lambda x: x / list_sum(w)) AS p FROM raw)
SELECT 'm' || i, lens, CASE WHEN lens = 'author' THEN 'author-v1' ELSE 'reader-v1' END, 'run-1',
       'scored', hash(i, 'tr') % 200 = 0, 12, $labels[top + 1], p[top + 1], p, [$labels[top + 1]]
FROM probs
"""

SYNTH_RUN = """
INSERT INTO runs (run_id, started_at, finished_at, status, author_version, reader_version,
                  settings, inputs, processes, counts, seconds)
VALUES ('run-1', TIMESTAMPTZ '2025-07-01 02:00:00+00', TIMESTAMPTZ '2025-07-01 03:00:00+00',
        'finished', 'author-v1', 'reader-v1', '{}', '{}', 1, json_object('scored', $n), 3600.0);
INSERT INTO lenses VALUES
    ('author-v1', 'author', 'all-MiniLM-L6-v2', '{}', '{"dev": {"accuracy": 0.61, "macro_f1": 0.52}}'),
    ('reader-v1', 'reader', 'all-MiniLM-L6-v2', '{}', '{"dev": {"accuracy": 0.58, "macro_f1": 0.49}}');
"""


def synthesise(path: Path, n: int) -> None:
    con = store.connect(path)
    con.execute("SET enable_progress_bar = false")
    con.execute(SYNTH_MESSAGES, {"n": n, "words": list(WORDS), "hedges": list(HEDGES)})
    con.execute(SYNTH_PREDICTIONS, {"n": n, "labels": list(LABELS)})
    for statement in SYNTH_RUN.strip().split(";\n"):
        con.execute(statement, {"n": n} if "$n" in statement else None)
    con.close()


def baseline(path: Path) -> float:
    """Rows into Python, then aggregate there: the headline figures, the shift matrix and the
    three rankings with their mean divergence (five of the report's eleven query runs)."""
    t0 = time.perf_counter()
    con = store.connect(path, read_only=True)
    con.execute("SET enable_progress_bar = false")
    rows = con.execute("SELECT conversation_id, channel, sender, author_emotion, reader_emotion, "
                       "js_divergence, shifted FROM message_lenses").fetchall()
    matrix = Counter((r[3], r[4]) for r in rows)
    groups = []
    for column in range(3):
        n, hits, divergence = Counter(), Counter(), defaultdict(float)
        for r in rows:
            n[r[column]] += 1
            hits[r[column]] += r[6]
            divergence[r[column]] += r[5]
        groups.append({k: (n[k], hits[k] / n[k], divergence[k] / n[k]) for k in n})
    summary = (len(rows), sum(r[6] for r in rows), sum(r[5] for r in rows) / len(rows))
    assert sum(matrix.values()) == summary[0] and all(groups)
    con.close()
    return time.perf_counter() - t0


def same_sections_in_duckdb(path: Path) -> tuple[float, float]:
    """The baseline's five sections the report's way: one scoped snapshot, queries in DuckDB; and,
    on the same snapshot, the time the filters' table takes (filter_sizes, then filter_groups)."""
    from echoroom.report.data import DIMENSIONS, filter_groups, open_scope, run_query
    from echoroom.report.settings import ReportSettings

    t0 = time.perf_counter()
    settings = ReportSettings(db=str(path), quiet=True)
    con = open_scope(settings)
    params = settings.filters() | {"min_support": settings.min_support, "limit": settings.top}
    messages = run_query(con, "shift_summary", params)[0]["messages"]
    run_query(con, "shift_matrix", params)
    for dimension in DIMENSIONS:
        run_query(con, "shifting_groups", params | {"dimension": dimension})
    sections_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    filter_groups(con, settings.filters(), messages)
    filters_s = time.perf_counter() - t0
    con.close()
    return sections_s, filters_s


def _script(html: str, ident: str) -> str:
    start = html.index(f'<script type="application/json" id="{ident}">')
    return html[html.index(">", start) + 1:html.index("</script>", start)]


def embedded(html: str, ident: str) -> dict:
    """The JSON a report.html embeds under ``ident`` (filter-data, drill-data)."""
    return json.loads(_script(html, ident))


def embedded_mb(html: str, ident: str) -> float:
    return len(_script(html, ident).encode()) / 1e6


def main(argv: list[str]) -> int:
    from echoroom.report.render import make
    from echoroom.report.settings import ReportSettings

    opts = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    n = int(opts.get("messages", 1_000_000))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(opts.get("keep") or Path(tmp) / "bench.duckdb")
        if not path.exists():
            t0 = time.perf_counter()
            synthesise(path, n)
            print(f"synthesised {n:,} scored messages in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        written = make(ReportSettings(db=str(path), out=str(Path(tmp) / "out"), quiet=True))
        report_s = time.perf_counter() - t0
        html_mb = written["html"].stat().st_size / 1e6
        base_s = baseline(path)
        same_s, filters_s = same_sections_in_duckdb(path)
        print(f"report (HTML + .eml, every section): {report_s:.2f} s  (budget 15 s); "
              f"report.html {html_mb:.2f} MB (budget 5 MB, drill-down sample included)")
        html = written["html"].read_text(encoding="utf-8")
        table = embedded(html, "filter-data")
        print(f"filters' table (docs/reports.md, Filters): grain {table['grain']}, names kept per dimension "
              f"{table['keep'] or 'all'}, {len(table['rows']):,} rows, {embedded_mb(html, 'filter-data'):.2f} MB; "
              f"drill-down sample {embedded_mb(html, 'drill-data'):.2f} MB (grain None: no way of counting fits "
              "FILTER_MAX_ROWS and the filters narrow the drill-down only)")
        print(f"the same 5 sections: rows into Python {base_s:.2f} s, in DuckDB {same_s:.2f} s: "
              f"{base_s / same_s:.1f}x faster in DuckDB")
        print(f"the filters' table alone (filter_sizes + filter_groups, same snapshot): {filters_s:.2f} s, "
              f"{filters_s / same_s:.2f}x the 5 sections")
        return 0 if report_s < 15 and html_mb <= 5 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
