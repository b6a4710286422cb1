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

from echoroom import store
from echoroom.report.data import run_query
from echoroom.report.settings import ReportSettings

import report_fixtures as F

QUERIES = sorted(store.QUERIES_DIR.glob("*.sql"))
REPORT_QUERIES = ("divergent_messages", "left_out_languages", "misread_emotions", "report_scope", "run_metadata",
                  "shift_matrix", "shift_over_time", "shift_summary", "shift_terms", "shifting_groups")
DIMENSIONS = {"conversation": "conversation_id", "channel": "channel", "sender": "sender"}


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
        "min_support": 1, "limit": 10, "grain": "day", "dimension": "sender",
        "run_id": run_id, "author_version": author, "reader_version": reader, "files": shards,
        "version": "test-lens", "lens": "author", "encoder": "test", "info": "{}", "metrics": "{}",
        "started_at": now, "finished_at": now, "counts": "{}", "seconds": 1.0, "settings": "{}",
        "inputs": "[]", "processes": 1, "stopwords": ["the", "it"], "per_group": 5, "max_messages": 100,
        "max_chars": 400, "threshold": 0.5, "max_rows": 1000,
    }


# Statements that need a particular state to make sense run with it.
PER_FILE = {"insert_run": {"run_id": "test-new-run"},
            # stale_runs reads this corpus's files as one JSON list of {path, size, mtime_ns}
            "stale_runs": {"files": '[{"path": "corpus.parquet", "size": 1, "mtime_ns": 1}]'}}


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
    con = store.connect(db)  # as every caller does: it defines the macros (queries/macros.sql)
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


def test_the_scope_filter_and_wilson_bounds_are_written_once():
    """queries/macros.sql holds them; the report queries call in_scope and wilson_low/high."""
    for name in REPORT_QUERIES:
        sql = re.sub(r"--[^\n]*", "", store.load_sql(name))
        # left_out_languages scopes the messages table: skipped messages are not in message_lenses.
        assert re.search(r"in_scope\(\$start, \$end, \$conversation, \$channel, \$sender[,)]", sql), name
        assert "sent_at >=" not in sql and "sqrt(" not in sql and "1.959964" not in sql, name


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
        return run_query(con, name, settings.filters() | {"min_support": settings.min_support, "stopwords": None,
                                                          "limit": settings.top} | params)
    finally:
        con.close()


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = k / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - half) / (1 + z * z / n)), min(1.0, (centre + half) / (1 + z * z / n))


def test_wilson_macros_match_python(tmp_path):
    con = store.connect(tmp_path / "w.duckdb")
    cases = [(0, 1), (1, 1), (0, 7), (3, 3), (3, 300), (180, 300), (57, 1000), (999_999, 1_000_000)]
    for k, n in cases:
        assert con.execute("SELECT wilson_low($k, $n), wilson_high($k, $n)", {"k": k, "n": n}).fetchone() == \
            pytest.approx(wilson(k, n), abs=1e-12), (k, n)
    # Nothing known without messages: the whole of [0, 1].
    assert con.execute("SELECT wilson_low(0, 0), wilson_high(0, 0)").fetchone() == (0.0, 1.0)


def test_summary_and_matrix_agree_with_python(scored, lens_rows):
    summary = report_rows(scored, "shift_summary")[0]
    shifted = sum(r["shifted"] for r in lens_rows)  # as message_lenses defines a shift
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
    ranking = report_rows(scored, "shifting_groups", dimension="conversation", min_support=9)
    assert {r["name"] for r in ranking} == {c for c, n in per.items() if n >= 9}
    assert [r["wilson_low"] for r in ranking] == sorted((r["wilson_low"] for r in ranking), reverse=True)
    for r in ranking:
        assert (r["messages"], r["shifted"]) == (per[r["name"]], hits[r["name"]])
        assert (r["wilson_low"], r["wilson_high"]) == pytest.approx(wilson(hits[r["name"]], per[r["name"]]))
    assert len(report_rows(scored, "shifting_groups", dimension="sender", top=2)) == 2


@pytest.mark.parametrize("dimension", DIMENSIONS)
def test_each_dimension_ranks_its_own_column(scored, lens_rows, dimension):
    column = DIMENSIONS[dimension]
    per = Counter(r[column] for r in lens_rows)
    hits = Counter(r[column] for r in lens_rows if r["shifted"])
    ranking = report_rows(scored, "shifting_groups", dimension=dimension)
    assert {r["name"]: (r["messages"], r["shifted"]) for r in ranking} == {k: (n, hits[k]) for k, n in per.items()}
    for r in ranking:
        assert (r["wilson_low"], r["wilson_high"]) == pytest.approx(wilson(hits[r["name"]], per[r["name"]]))
        assert r["senders"] == len({x["sender"] for x in lens_rows if x[column] == r["name"]})


@pytest.mark.parametrize("dimension, channel", [("conversation_id", None), (None, None), ("senders", "no such channel"),
                                                ("sender; DROP TABLE messages", None)])
def test_an_unknown_dimension_is_refused_even_with_nothing_in_scope(scored, dimension, channel):
    with pytest.raises(duckdb.InvalidInputException,
                       match=r"dimension must be 'conversation', 'channel' or 'sender' .*, got (NULL|')"):
        report_rows(scored, "shifting_groups", dimension=dimension, channel=channel)


def test_the_scope_macro_reads_the_report_snapshot(scored, lens_rows):
    """After report_scope, in_scope reads the snapshot: the report's later filters cannot widen it."""
    con = store.connect(scored, read_only=True)
    try:
        everything = con.execute("SELECT count(*) FROM in_scope(NULL, NULL, NULL, NULL, NULL)").fetchone()[0]
        assert everything == len(lens_rows)
        run_query(con, "report_scope", ReportSettings(db=str(scored), channel="slack").filters())
        unfiltered = {"start": None, "end": None, "conversation": None, "channel": None, "sender": None,
                      "min_support": 1, "limit": 100, "dimension": "channel"}
        assert [r["name"] for r in run_query(con, "shifting_groups", unfiltered)] == ["slack"]
        assert run_query(con, "shift_summary", unfiltered)[0]["messages"] == \
            sum(r["channel"] == "slack" for r in lens_rows)
    finally:
        con.close()


def test_filters_narrow_every_query(scored, lens_rows):
    team = [r for r in lens_rows if r["conversation_id"] == "team"]
    assert report_rows(scored, "shift_summary", conversation="team")[0]["messages"] == len(team)
    week = report_rows(scored, "shift_summary", start="2025-03-10", end="2025-03-17")[0]
    assert week["messages"] == sum(dt.datetime(2025, 3, 10, tzinfo=dt.timezone.utc) <= r["sent_at"]
                                   < dt.datetime(2025, 3, 17, tzinfo=dt.timezone.utc) for r in lens_rows)
    for name in REPORT_QUERIES[1:]:
        if name in ("run_metadata", "shift_summary", "report_scope"):
            continue
        assert report_rows(scored, name, grain="week", dimension="sender", channel="no such channel") == [], name
    assert report_rows(scored, "shift_summary", sender="nobody")[0]["messages"] == 0


def test_over_time_buckets_by_utc_week(scored, lens_rows):
    weeks = report_rows(scored, "shift_over_time", grain="week")
    assert [w["period"].weekday() for w in weeks] == [0] * len(weeks)  # ISO weeks start on Monday
    assert sum(w["messages"] for w in weeks) == len(lens_rows)


def terms_of(text: str) -> set[str]:
    """Words and adjacent pairs as the query reads them: split on anything but letters, digits and
    apostrophes (so "<script>document" holds the pair "script document")."""
    words = [w for w in re.split(r"[^\w']+|_", text.lower()) if len(w) >= 2 and re.search(r"[^\W\d_]", w)]
    return set(words) | {f"{a} {b}" for a, b in zip(words, words[1:])}


def test_shift_terms_are_lifted_and_supported(scored, lens_rows):
    terms = report_rows(scored, "shift_terms", min_support=2)
    for t in terms:
        assert t["support"] >= 2 and t["lift"] > 1
        having = [r for r in lens_rows if t["term"] in terms_of(r["text"])]
        assert t["support"] == len(having), t["term"]
        assert t["shifted"] == sum(r["shifted"] for r in having)


def test_left_out_languages_are_counted_within_the_scope(tmp_path_factory, lens_root):
    ordinary = F.corpus_rows(hostile=False)
    db = F.scored_db(tmp_path_factory.mktemp("languages"), lens_root, ordinary + F.foreign_rows())
    left_out = [(r["language"], r["messages"]) for r in report_rows(db, "left_out_languages")]
    assert left_out == [("de", 2), ("es", 1)] == sorted(Counter(code for _, code in F.FOREIGN).items())
    assert [r["language"] for r in report_rows(db, "left_out_languages", channel="slack")] == ["es"]
    assert report_rows(db, "left_out_languages", start="2025-03-05") == []
    assert report_rows(db, "left_out_languages", sender="ben") == []
    assert report_rows(db, "shift_summary")[0]["messages"] == len(ordinary)  # not among the scored


def test_divergent_messages_and_run_metadata(scored, lens_rows):
    top = report_rows(scored, "divergent_messages", top=5)
    assert [r["message_id"] for r in top] == \
        [r["message_id"] for r in sorted(lens_rows, key=lambda r: (-r["js_divergence"], r["message_id"]))][:5]
    runs = report_rows(scored, "run_metadata")
    assert len(runs) == 1 and runs[0]["messages_in_scope"] == len(lens_rows)
    assert json.loads(runs[0]["counts"])


def test_shift_threshold_decides_shifted(scored):
    from echoroom import store

    for threshold in (0.05, 0.5, 0.95):
        con = store.connect(scored, read_only=True, shift_threshold=threshold)
        shifted, at_or_above, n = con.execute(
            "SELECT count(*) FILTER (WHERE shifted), count(*) FILTER (WHERE shift_score >= $t), count(*) "
            "FROM message_lenses", {"t": threshold}).fetchone()
        con.close()
        assert n > 0 and shifted == at_or_above
    con = store.connect(scored, read_only=True)
    default = con.execute("SELECT count(*) FILTER (WHERE shifted) = count(*) FILTER (WHERE shift_score >= 0.6) "
                          "FROM message_lenses").fetchone()[0]
    kinds = {k for (k,) in con.execute("SELECT DISTINCT shift_kind FROM message_lenses").fetchall()}
    con.close()
    assert default and kinds <= {"misread", "tone_lost", "tone_added", "none"}
