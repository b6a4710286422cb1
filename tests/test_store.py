"""The DuckDB schema: idempotent, documented, and its Jensen-Shannon divergence exact."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import numpy as np
import pytest

from echoroom import store
from echoroom.labels import LABELS

from helpers import js_reference

DOCS = Path(__file__).resolve().parent.parent / "docs" / "schema.md"


def test_schema_is_idempotent(tmp_path):
    con = store.connect(tmp_path / "x.duckdb")
    store.create_schema(con)  # a second time on the same file
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"messages", "predictions", "runs", "lenses", "message_lenses", "current_lenses"} <= tables


def test_load_sql_names_the_missing_query():
    with pytest.raises(FileNotFoundError, match=r"no query named 'nope'.*known: .*schema"):
        store.load_sql("nope")


def test_read_only_connect_needs_an_existing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="score a corpus first"):
        store.connect(tmp_path / "missing.duckdb", read_only=True)


def test_macros_are_defined_on_a_read_only_database_made_without_them(tmp_path):
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute(store.load_sql("schema"))  # what a database from before the macros holds
    con.close()
    con = store.connect(db, read_only=True)  # temporary macros: the file is not written
    assert con.execute("SELECT count(*) FROM in_scope(NULL, NULL, NULL, NULL, NULL)").fetchone() == (0,)
    assert con.execute("SELECT wilson_low(3, 10) < 0.3 AND wilson_high(3, 10) > 0.3").fetchone() == (True,)
    con.close()


def test_js_divergence_matches_numpy(tmp_path):
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(10, 0.3), size=200).astype(np.float32)
    q = rng.dirichlet(np.full(10, 0.3), size=200).astype(np.float32)
    p[0], q[0] = np.eye(10)[0], np.eye(10)[1]          # disjoint supports: exactly 1
    p[1] = q[1]                                         # identical: exactly 0
    p[2, :5], p[2, 5:] = 0.2, 0.0                       # zeros on one side only
    con = store.connect(tmp_path / "x.duckdb")
    got = np.array([r[0] for r in con.execute(
        "SELECT js_divergence(p::FLOAT[10], q::FLOAT[10]) FROM (SELECT unnest($p) AS p, unnest($q) AS q)",
        {"p": p.tolist(), "q": q.tolist()}).fetchall()])
    want = js_reference(p, q)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert got[0] == 1.0 and got[1] == 0.0
    assert ((got >= 0) & (got <= 1)).all()


def test_message_lenses_has_every_label_in_order(tmp_path):
    con = store.connect(tmp_path / "x.duckdb")
    cols = [r[0] for r in con.execute("DESCRIBE message_lenses").fetchall()]
    assert [c for c in cols if c.startswith("author_") and c[7:] in LABELS] == [f"author_{l}" for l in LABELS]
    assert [c for c in cols if c.startswith("reader_") and c[7:] in LABELS] == [f"reader_{l}" for l in LABELS]
    for name in ("message_id", "conversation_id", "sender", "sent_at", "channel", "text", "language", "run_id",
                 "author_version", "reader_version", "author_emotion", "author_confidence",
                 "reader_emotion", "reader_confidence", "author_labels", "reader_labels",
                 "js_divergence", "shifted", "truncated"):
        assert name in cols


def test_every_column_is_documented(tmp_path):
    """docs/schema.md has a row `| column |` under a heading for each table and view."""
    con = store.connect(tmp_path / "x.duckdb")
    doc = DOCS.read_text()
    sections = dict(re.findall(r"^## `(\w+)`\n(.*?)(?=^## |\Z)", doc, flags=re.S | re.M))
    for table in ("messages", "predictions", "runs", "lenses", "message_lenses", "current_lenses"):
        assert table in sections, f"docs/schema.md has no section for {table}"
        for (col,) in con.execute(f"SELECT column_name FROM information_schema.columns "
                                  f"WHERE table_name = '{table}'").fetchall():
            label_col = re.fullmatch(r"(author|reader)_(\w+)", col)
            if label_col and label_col.group(2) in LABELS:
                col = f"{label_col.group(1)}_<label>"
            assert f"| `{col}`" in sections[table], f"docs/schema.md: {table}.{col} is not documented"


def test_an_older_database_gets_reply_to_platform_and_language_as_columns(tmp_path):
    """A file written before reply_to and platform were columns (they were kept in extra), and
    before language detection (its messages have no language until scored again)."""
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE messages (message_id VARCHAR PRIMARY KEY, conversation_id VARCHAR, sender VARCHAR, "
                "sent_at TIMESTAMPTZ, channel VARCHAR, text VARCHAR, extra JSON, source_file VARCHAR, "
                "first_run_id VARCHAR)")
    con.execute("CREATE VIEW message_lenses AS SELECT message_id, text FROM messages")
    con.execute("INSERT INTO messages (message_id, text, extra) VALUES "
                """('a', 'hi', '{"reply_to": null, "platform": "slack"}'), """
                """('b', 'yo', '{"reply_to": "a", "platform": "slack", "lang": "en"}'), """
                """('c', 'ok', '{"lang": "de"}'), ('d', 'no', NULL)""")
    con.close()
    for _ in range(2):  # upgrading twice changes nothing the second time
        con = store.connect(path)
        got = con.execute("SELECT message_id, reply_to, platform, json(extra) FROM messages ORDER BY 1").fetchall()
        assert got == [("a", None, "slack", None), ("b", "a", "slack", '{"lang":"en"}'),
                       ("c", None, None, '{"lang":"de"}'), ("d", None, None, None)]
        columns = [r[0] for r in con.execute("DESCRIBE message_lenses").fetchall()]
        assert {"reply_to", "platform", "language"} <= set(columns)
        assert [r[0] for r in con.execute("DESCRIBE messages").fetchall()][-3:] == ["reply_to", "platform", "language"]
        assert con.execute("SELECT count(*) FROM messages WHERE language IS NULL").fetchone() == (4,)
        con.close()
