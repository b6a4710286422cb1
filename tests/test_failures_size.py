"""One huge message bounds nothing else: scoring cuts a text before tokenizing it and flags it
truncated, ingest reads a zip's lines in bounded pieces and cuts a message to MAX_MESSAGE_CHARS,
counting it (docs/operations.md, "Failure modes"; peak memory in bench/bench_memory.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from echoroom.ingest import Options, ingest
from echoroom.ingest.session import MAX_MESSAGE_CHARS
from echoroom.ingest.source import MAX_LINE_BYTES
from echoroom.lenses import default_lens_folders
from echoroom.lenses.model import LensSet
from echoroom.scoring.scorer import Scorer, predict_table


@pytest.fixture(scope="module")
def lenses(lens_root):
    return LensSet(default_lens_folders(lens_root))


def test_a_10_mb_message_is_read_as_its_start_and_flagged_truncated(lenses):
    huge = "this is terrible, I cannot believe it " * 280_000  # 10.6 MB
    start = huge[:20_000]  # already far past the model's limit
    probs, n_tokens, cut = Scorer(lenses).read([huge, start, "ok"])
    assert cut.tolist() == [True, True, False]
    assert n_tokens[0] == n_tokens[1] == lenses.max_length
    for name in lenses.names:  # the cut changes nothing the model reads
        np.testing.assert_allclose(probs[name][0], probs[name][1], atol=1e-6)


def test_a_long_blank_stretch_still_counts_as_cut(lenses):
    text = "hello" + " " * 3_000_000 + "world"  # past the character cap, yet a few tokens
    _, _, cut = Scorer(lenses).read([text])
    assert cut.tolist() == [True]
    table = predict_table(Scorer(lenses), pa.table({"message_id": ["a"], "text": [text]}))
    assert table.column("truncated").to_pylist() == [True]
    assert table.column("status").to_pylist() == ["scored"]


def write_zip(path: Path, lines: list[str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open("WhatsApp Chat with Team.txt", "w") as f:
        for line in lines:
            f.write(line.encode("utf-8") + b"\n")
    return path


def test_ingest_cuts_a_huge_message_from_a_zip_and_counts_it(tmp_path):
    head = "15/01/2024, 09:05 - Ann: "
    one_line = head + "é" * (3 * MAX_LINE_BYTES)  # 6 MB on one line, cut mid-way through a 2-byte character
    many = ["16/01/2024, 10:00 - Bob: start"] + ["x" * 99_999] * 15  # 1.5 million characters over 16 lines
    export = write_zip(tmp_path / "chat.zip", [head + "before", one_line, *many,
                                               "17/01/2024, 11:00 - Ann: after"])
    out = tmp_path / "corpus.parquet"
    summary = ingest([export], out, Options(timezone="UTC"))
    texts = pl.read_parquet(out)["text"].to_list()
    assert summary.written == 4 and len(texts) == 4
    assert texts[0] == "before" and texts[3] == "after"
    assert set(texts[1]) == {"é"} and len(texts[1]) == (MAX_LINE_BYTES - len(head.encode())) // 2
    assert texts[2].startswith("start\nxxx") and len(texts[2]) == MAX_MESSAGE_CHARS
    assert summary.cut == 2
    assert summary.cut_where == [f"{export}:WhatsApp Chat with Team.txt:2", f"{export}:WhatsApp Chat with Team.txt:3"]
    assert "cut 2: messages longer than 1,000,000 characters (or one line over 1 MB), kept to that length" \
        in str(summary)


def test_a_load_that_outgrows_its_duckdb_memory_runs_again_unbounded(tmp_path, lens_root, monkeypatch, capsys):
    """The load runs under shards.LOAD_MEMORY so its peak does not grow with the database; a load
    that needs more pinned at once is rolled back and done again without the limit, exactly once."""
    from echoroom.scoring import shards
    from jobs import score as job

    from helpers import assert_exactly_once, rows, write_corpus

    path = write_corpus(tmp_path / "c.parquet", 300)
    db = tmp_path / "db.duckdb"
    monkeypatch.setattr(shards, "LOAD_MEMORY", 2**20)  # too little for any load
    monkeypatch.setattr(shards, "LOAD_BYTES_PER_MESSAGE", 0)
    counts = job.main([f"--inputs={path}", f"--db={db}", f"--lenses={lens_root}", "--progress=false",
                       "--chunk_rows=100"])
    assert "the load needed more than 1MB of DuckDB memory at once; loading again without that limit" in (
        capsys.readouterr().out)
    assert counts["scored"] == 300 and counts["inserted"] == 600
    assert_exactly_once(db, 300)
    assert rows(db, "SELECT status FROM runs") == [("finished",)]


def test_a_load_that_runs_out_of_memory_at_commit_leaves_the_file_as_it_was(tmp_path):
    """DuckDB may run out of its memory limit only when committing: it then reports a failed
    commit (not an OutOfMemoryException) and invalidates the database for that connection. The
    load must see that as "out of memory" too, and the file, opened again, must hold nothing of
    it, so a second try with more memory loads everything once. A ladder of limits finds both kinds of
    failure (while inserting, then while committing) whatever the machine's thread count."""
    import duckdb

    from echoroom import store
    from echoroom.scoring.shards import out_of_memory

    from helpers import rows

    insert = ("INSERT INTO messages (message_id, text) SELECT 'message-' || i, 'text ' || i FROM range(20000) t(i);"
              "INSERT INTO predictions (message_id, lens, lens_version, run_id, status, truncated) "
              "SELECT 'message-' || i, lens, lens || '-v1', 'run', 'scored', false "
              "FROM range(20000) t(i), (VALUES ('author'), ('reader')) v(lens)")
    db = tmp_path / "db.duckdb"
    store.connect(db).close()
    failed = []  # the stage each limit failed at, smallest limit first
    for mb in range(4, 64):
        con = store.connect(db, memory_limit=f"{mb}MB")
        stage = "insert"
        try:
            con.begin()
            con.execute(insert)
            stage = "commit"
            con.commit()
            break
        except duckdb.Error as exc:
            assert out_of_memory(exc), exc
            failed.append(stage)
            try:
                con.rollback()
            except duckdb.Error:
                pass  # after a failed commit the connection's database is invalidated
        finally:
            con.close()
        assert rows(db, "SELECT count(*) FROM messages") == [(0,)]
    else:
        raise AssertionError("no limit up to 63MB was enough")
    assert "commit" in failed, f"no limit made the commit fail: {failed}"
    assert rows(db, "SELECT count(*) FROM messages") == [(20000,)]
    assert rows(db, "SELECT count(*) FROM predictions") == [(40000,)]


@pytest.mark.parametrize("mine", [None, "512"])
def test_scoring_bounds_the_kernel_caches_unless_the_user_set_them(mine):
    """Both caches grew with the corpus (docs/scoring.md, "Memory"): importing the scorer bounds them
    before torch runs a product, and a value the user exported is kept."""
    env = {k: v for k, v in os.environ.items() if k not in ("LRU_CACHE_CAPACITY", "ONEDNN_PRIMITIVE_CACHE_CAPACITY")}
    if mine:
        env["LRU_CACHE_CAPACITY"] = mine
    code = ("import os, echoroom.scoring.scorer; "
            "print(os.environ['LRU_CACHE_CAPACITY'], os.environ['ONEDNN_PRIMITIVE_CACHE_CAPACITY'])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == [mine or "64", "16"]
