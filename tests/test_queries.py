"""Every file in queries/ runs against a real DuckDB built from the schema and filled by the real
scoring path; the report queries' figures agree with counts made independently in Python."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pytest

import report_fixtures as F
from echoroom import store
from echoroom.report.data import run_query
from echoroom.report.settings import ReportSettings

QUERIES = sorted(store.QUERIES_DIR.glob("*.sql"))
REPORT_QUERIES = ("divergent_messages", "misread_emotions", "report_scope", "run_metadata", "shift_matrix",
                  "shift_over_time", "shift_summary", "shift_terms", "shifting_channels",
                  "shifting_conversations", "shifting_senders")


@pytest.fixture(scope="module")
def scored(tmp_path_factory, lens_root) -> Path:
    return F.scored_db(tmp_path_factory.mktemp("queries"), lens_root, F.corpus_rows(), keep_shards=True)


def parameters(db: Path, con: duckdb.DuckDBPyConnection) -> dict:
    """A value for every parameter name the queries use. A new query with a new name fails the
    test below until a value is added here: no file goes untested."""
    run_id, author, reader = con.execute("SELECT run_id, author_version, reader_version FROM runs").fetchone()
    shards = sorted(str(p) for p in (db.parent / "work").rglob("part-*.parquet"))
    now = dt.datetime.now(dt.timezone.utc)
    return {
        "start": None, "end": None, "conversation": None, "channel": None, "sender": None,
        "min_support": 1, "limit": 10, "grain": "day",
        "run_id": run_id, "author_version": author, "reader_version": reader, "files": shards,
        "version": "test-lens", "lens": "author", "encoder": "test", "info": "{}", "metrics": "{}",
        "started_at": now, "finished_at": now, "counts": "{}", "seconds": 1.0, "settings": "{}",
        "inputs": "[]", "processes": 1,
    }


# Statements that need a particular state to make sense run with it.
PER_FILE = {"insert_run": {"run_id": "test-new-run"}}


def names_in(sql: str) -> set[str]:
    return set(re.findall(r"\$([A-Za-z_]\w*)", re.sub(r"--[^\n]*", "", sql)))


def test_the_scoring_fixture_is_what_it_says(scored):
    con = duckdb.connect(str(scored), read_only=True)
    rows = dict(con.execute("SELECT message_id, text FROM message_lenses").fetchall())
    assert len(rows) == len(F.corpus_rows())
    for i, text in enumerate(F.HOSTILE):
        assert rows[f"hostile-{i:02d}"] == text  # stored byte for byte, the DROP TABLE inert
    assert con.execute("SELECT count(*) FROM runs WHERE status = 'finished'").fetchone() == (1,)


@pytest.mark.parametrize("path", QUERIES, ids=[p.stem for p in QUERIES])
def test_every_query_file_runs(path, scored, tmp_path):
    sql = path.read_text()
    db = tmp_path / "copy.duckdb"
    shutil.copy(scored, db)  # statements that write must not change the shared fixture
    con = duckdb.connect(str(db))
    if path.stem == "scored_ids":  # reads the ids of the corpus being planned, a temp table
        con.execute("CREATE TEMP TABLE corpus_ids AS SELECT message_id FROM messages")
    values = parameters(scored, con) | PER_FILE.get(path.stem, {})
    wanted = names_in(sql)
    unknown = wanted - values.keys()
    assert not unknown, f"{path.name} uses {sorted(unknown)}: add test values in test_queries.parameters"
    con.execute(sql, {k: values[k] for k in wanted} if wanted else None)
    if con.description is not None:
        con.fetchall()
    con.close()


@pytest.mark.parametrize("name", REPORT_QUERIES)
def test_report_queries_document_their_parameters(name):
    sql = store.load_sql(name)
    header = sql[:sql.index("\n", sql.index("Parameters"))] if "Parameters" in sql else ""
    assert sql.startswith(f"-- {name}:"), f"{name}.sql must open with a comment saying what it returns"
    comments = "\n".join(line for line in sql.splitlines() if line.startswith("--"))
    for param in names_in(sql):
        assert f"${param}" in comments, f"{name}.sql uses ${param} without documenting it"
    assert header


def test_schema_builds_an_empty_database_twice():
    con = duckdb.connect()
    store.create_schema(con)
    store.create_schema(con)
    assert con.execute("SELECT count(*) FROM message_lenses").fetchone() == (0,)


def test_report_queries_share_one_filter_block():
    # Each file is usable on its own, so the filter is repeated; this keeps the copies identical.
    block = re.compile(r"WHERE \(\$start.*?\$sender::VARCHAR\)", re.S)
    found = {name: " ".join(block.search(store.load_sql(name)).group(0).split()) for name in REPORT_QUERIES}
    assert len(set(found.values())) == 1, found


@pytest.fixture(scope="module")
def lens_rows(scored):
    con = duckdb.connect(str(scored), read_only=True)
    cur = con.execute("SELECT * FROM message_lenses")
    cols = [d[0] for d in cur.description]
    rows = [dict(zip(cols, r)) for r in cur.fetchall()]
    con.close()
    return rows


def report_rows(db: Path, name: str, **params) -> list[dict]:
    settings = ReportSettings(db=str(db), min_support=params.pop("min_support", 1), top=params.pop("top", 100),
                              **{k: params.pop(k) for k in ("start", "end", "conversation", "channel", "sender")
                                 if k in params})
    con = store.connect(db, read_only=True)
    try:
        return run_query(con, name, settings.filters() | {"min_support": settings.min_support,
                                                          "limit": settings.top} | params)
    finally:
        con.close()


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = k / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - half) / (1 + z * z / n)), min(1.0, (centre + half) / (1 + z * z / n))


def test_summary_and_matrix_agree_with_python(scored, lens_rows):
    summary = report_rows(scored, "shift_summary")[0]
    shifted = sum(r["author_emotion"] != r["reader_emotion"] for r in lens_rows)
    assert (summary["messages"], summary["shifted"]) == (len(lens_rows), shifted)
    assert summary["wilson_low"] == pytest.approx(wilson(shifted, len(lens_rows))[0])
    assert summary["conversations"] == len({r["conversation_id"] for r in lens_rows})
    matrix = report_rows(scored, "shift_matrix")
    assert {(c["author_emotion"], c["reader_emotion"]): c["messages"] for c in matrix} == \
        Counter((r["author_emotion"], r["reader_emotion"]) for r in lens_rows)
    for author in {c["author_emotion"] for c in matrix}:
        assert sum(c["row_rate"] for c in matrix if c["author_emotion"] == author) == pytest.approx(1.0)


def test_rankings_use_wilson_lower_bound_and_min_support(scored, lens_rows):
    per = Counter(r["conversation_id"] for r in lens_rows)
    hits = Counter(r["conversation_id"] for r in lens_rows if r["shifted"])
    ranking = report_rows(scored, "shifting_conversations", min_support=9)
    assert {r["name"] for r in ranking} == {c for c, n in per.items() if n >= 9}
    assert [r["wilson_low"] for r in ranking] == sorted((r["wilson_low"] for r in ranking), reverse=True)
    for r in ranking:
        assert (r["messages"], r["shifted"]) == (per[r["name"]], hits[r["name"]])
        assert (r["wilson_low"], r["wilson_high"]) == pytest.approx(wilson(hits[r["name"]], per[r["name"]]))
    assert len(report_rows(scored, "shifting_senders", top=2)) == 2


def test_filters_narrow_every_query(scored, lens_rows):
    team = [r for r in lens_rows if r["conversation_id"] == "team"]
    assert report_rows(scored, "shift_summary", conversation="team")[0]["messages"] == len(team)
    week = report_rows(scored, "shift_summary", start="2025-03-10", end="2025-03-17")[0]
    assert week["messages"] == sum(dt.datetime(2025, 3, 10, tzinfo=dt.timezone.utc) <= r["sent_at"]
                                   < dt.datetime(2025, 3, 17, tzinfo=dt.timezone.utc) for r in lens_rows)
    for name in REPORT_QUERIES[1:]:
        if name in ("run_metadata", "shift_summary", "report_scope"):
            continue
        assert report_rows(scored, name, grain="week", channel="no such channel") == [], name
    assert report_rows(scored, "shift_summary", sender="nobody")[0]["messages"] == 0


def test_over_time_buckets_by_utc_week(scored, lens_rows):
    weeks = report_rows(scored, "shift_over_time", grain="week")
    assert [w["period"].weekday() for w in weeks] == [0] * len(weeks)  # ISO weeks start on Monday
    assert sum(w["messages"] for w in weeks) == len(lens_rows)


def test_shift_terms_are_lifted_and_supported(scored, lens_rows):
    terms = report_rows(scored, "shift_terms", min_support=2)
    for t in terms:
        assert t["support"] >= 2 and t["lift"] > 1
        having = [r for r in lens_rows if re.search(rf"(?<![\w']){re.escape(t['term'])}(?![\w'])", r["text"].lower())]
        assert t["support"] == len(having), t["term"]
        assert t["shifted"] == sum(r["shifted"] for r in having)


def test_divergent_messages_and_run_metadata(scored, lens_rows):
    top = report_rows(scored, "divergent_messages", top=5)
    assert [r["message_id"] for r in top] == \
        [r["message_id"] for r in sorted(lens_rows, key=lambda r: (-r["js_divergence"], r["message_id"]))][:5]
    runs = report_rows(scored, "run_metadata")
    assert len(runs) == 1 and runs[0]["messages_in_scope"] == len(lens_rows)
    assert json.loads(runs[0]["counts"])
