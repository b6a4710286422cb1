"""Helpers shared by the test modules (fixtures live in conftest.py): synthetic and ingested corpora,
reading a database, the exactly-once check and the Jensen-Shannon oracle."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from echoroom.demo import chatter
from echoroom.ingest import Options, Summary, ingest


def write_corpus(path: Path, n: int, seed: int = 0, start: int = 0, row_group_size: int | None = None,
                 **extra_columns) -> Path:
    """A synthetic corpus file of ``n`` messages (see echoroom/demo/chatter.py)."""
    cols = chatter.messages(n, seed=seed, start=start)
    cols.update(extra_columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols), path, row_group_size=row_group_size)
    return path


def corpus(tmp_path: Path, *exports, **options) -> tuple[pl.DataFrame, Summary]:
    """Ingest ``exports`` with ``Options(**options)``: the corpus written, as a frame, and the summary."""
    out = tmp_path / "corpus.parquet"
    summary = ingest(exports, out, Options(**options))
    return pl.read_parquet(out), summary


def rows(db: Path, sql: str, params=None) -> list[tuple]:
    """All rows of ``sql`` on a read-only connection to ``db``, closed again at once."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def assert_exactly_once(db: Path, n: int, skipped: int = 0) -> None:
    """``n`` messages, each stored once and scored once by each lens; the ``n - skipped`` that had
    text to score each visible once in ``message_lenses`` (skipped ones are in ``predictions``)."""
    assert rows(db, "SELECT count(*), count(DISTINCT message_id) FROM messages") == [(n, n)]
    per = rows(db, "SELECT lens, count(*), count(DISTINCT message_id) FROM predictions GROUP BY lens ORDER BY lens")
    assert per == [("author", n, n), ("reader", n, n)]
    assert rows(db, "SELECT count(*), count(DISTINCT message_id) FROM message_lenses") == [(n - skipped, n - skipped)]


def js_reference(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (base 2) row by row, in float64: the oracle for the SQL macro."""
    p, q = p.astype(np.float64), q.astype(np.float64)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum(1)
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum(1)
    return 0.5 * kl_p + 0.5 * kl_q
