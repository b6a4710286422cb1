"""The DuckDB store: one file holding messages, predictions per lens version, runs and lenses.

Every statement lives in ``queries/<name>.sql`` and is loaded by name; values are always bound
parameters. Only one process writes the file (DuckDB allows a single writer): in a distributed
scoring run that is the main process, which loads the Parquet shards the others wrote.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import duckdb

QUERIES_DIR = Path(__file__).resolve().parent.parent / "queries"


@cache
def load_sql(name: str) -> str:
    """The text of ``queries/<name>.sql``."""
    path = QUERIES_DIR / f"{name}.sql"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in QUERIES_DIR.glob("*.sql")))
        raise FileNotFoundError(f"no query named {name!r}: {path} does not exist (known: {known})")
    return path.read_text()


def define_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Define the queries' shared pieces (``queries/macros.sql``) on this connection.

    They are temporary macros, kept by the connection rather than the file, so a read-only
    connection and a database written before they existed get them too.
    """
    con.execute(load_sql("macros"))


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables, macros and views if missing (safe on an existing database)."""
    con.execute(load_sql("schema"))
    define_macros(con)


def connect(path: str | Path, read_only: bool = False, shift_threshold: float | None = None
            ) -> duckdb.DuckDBPyConnection:
    """Open (and for writers, create and migrate) the database at ``path``, with the macros defined.

    ``shift_threshold`` sets the session variable ``message_lenses.shifted`` compares ``shift_score``
    with (unset: the view's default, docs/labels.md)."""
    con = _open(path, read_only)
    if shift_threshold is not None:
        query(con, "shift_threshold", {"threshold": float(shift_threshold)})
    return con


def _open(path: str | Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    path = Path(path)
    if read_only:
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: score a corpus first "
                                    f"(`echoroom score CORPUS.parquet --db {path}`)")
        con = duckdb.connect(str(path), read_only=True)
        define_macros(con)
        return con
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    create_schema(con)
    return con


def query(con: duckdb.DuckDBPyConnection, name: str, params: dict | list | None = None):
    """Run the named query with bound parameters; errors carry the query name and parameters."""
    try:
        return con.execute(load_sql(name), params or [])
    except duckdb.Error as exc:
        raise type(exc)(f"{exc}\n  in queries/{name}.sql with parameters {params!r}") from exc
