"""The DuckDB store: one file holding messages, predictions per lens version, runs and lenses.

Every statement lives in ``queries/<name>.sql`` and is loaded by name; values are always bound
parameters. Only one process writes the file (DuckDB allows a single writer): in a distributed
scoring run that is the main process, which loads the Parquet shards the others wrote.

A ``--db`` is checked before anything is written to it: it must be a DuckDB file (a SQLite file
would make DuckDB fetch its SQLite extension) that is empty or made by us, so another
application's ``messages`` or ``runs`` table never gets our tables, macros and views beside it.
Storage faults (not DuckDB, not ours, unwritable, disk full) are one ``StoreError`` line.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import duckdb

# A wheel ships the SQL inside the package (echoroom/queries, pyproject.toml's package-dir); a
# checkout keeps it in the top-level queries/ beside echoroom/.
_PACKAGE = Path(__file__).resolve().parent
QUERIES_DIR = _PACKAGE / "queries" if (_PACKAGE / "queries").is_dir() else _PACKAGE.parent / "queries"
# DuckDB reads a file's magic bytes at offset 8; SQLite files start with their own.
_DUCKDB_MAGIC = (8, b"DUCK")
_SQLITE_MAGIC = b"SQLite format 3\x00"
# Never fetch or load an extension because of a file we were pointed at.
_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
# A table of ours holding none of these columns is someone else's table of the same name.
_KEYS = {"messages": "message_id", "predictions": "lens_version", "runs": "run_id", "lenses": "version"}
# errno values that mean "this storage cannot take the write", whatever the statement.
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM,
                   errno.ENOTDIR, errno.EISDIR}


class StoreError(ValueError):
    """The database cannot be opened or written as asked; one line naming the file and the fix.
    ``exit_code`` is the scoring failure class (docs/operations.md, "Exit codes")."""
    exit_code = 5


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


def connect(path: str | Path, read_only: bool = False, shift_threshold: float | None = None,
            memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open (and for writers, create and migrate) the database at ``path``, with the macros defined.

    ``shift_threshold`` sets the session variable ``message_lenses.shifted`` compares ``shift_score``
    with (unset: the view's default, docs/labels.md). ``memory_limit`` (e.g. "128MB") bounds DuckDB's
    buffer pool, which otherwise keeps up to 80% of RAM of the blocks it read or wrote."""
    con = _open(path, read_only, {"memory_limit": memory_limit} if memory_limit else {})
    if shift_threshold is not None:
        query(con, "shift_threshold", {"threshold": float(shift_threshold)})
    return con


def _open(path: str | Path, read_only: bool, config: dict | None = None) -> duckdb.DuckDBPyConnection:
    path = Path(path)
    if read_only and not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: score a corpus first "
                                f"(`echoroom score CORPUS.parquet --db {path}`)")
    check_file(path)
    with storage(path, "open"):
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path), read_only=read_only, config={**_CONFIG, **(config or {})})
    try:
        if not read_only:
            check_ours(con, path)
            with storage(path, "write"):
                create_schema(con)
        else:
            define_macros(con)
    except BaseException:
        con.close()
        raise
    return con


def check_file(path: Path) -> None:
    """A ``path`` that exists must be a DuckDB file: refuse anything else before DuckDB opens it."""
    if path.is_dir():
        raise StoreError(f"{path}: a folder, not a DuckDB file; point --db at a file name "
                         f"(e.g. {path}/echoroom.duckdb)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except (FileNotFoundError, NotADirectoryError):
        return  # a new database (a folder on the way that cannot be made fails when opened)
    except OSError as exc:
        raise StoreError(f"{path}: cannot read it: {exc.strerror}; check its permissions") from None
    if head.startswith(_SQLITE_MAGIC):
        raise StoreError(f"{path}: a SQLite database, not DuckDB; point --db at a DuckDB file or a new "
                         "file name (nothing was changed)")
    offset, magic = _DUCKDB_MAGIC
    if head[offset:offset + len(magic)] != magic:
        found = "an empty file" if not head else f"a file starting {head[:8]!r}"
        raise StoreError(f"{path}: not a DuckDB database ({found}); point --db at a DuckDB file or a new "
                         "file name (nothing was changed)")


@cache
def our_tables() -> dict[str, frozenset[str]]:
    """{table: its columns} as ``queries/schema.sql`` makes them (views included, as empty sets)."""
    con = duckdb.connect(":memory:", config=_CONFIG)
    try:
        con.execute(load_sql("schema"))
        found: dict[str, set[str]] = {}
        for table, column in con.execute("SELECT table_name, column_name FROM information_schema.columns "
                                         "WHERE table_schema = 'main'").fetchall():
            found.setdefault(table, set()).add(column)
        views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    finally:
        con.close()
    return {t: frozenset() if t in views else frozenset(c) for t, c in found.items()}


def check_ours(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse a database that holds tables but is not one of ours, before writing anything to it.

    Ours: each of our tables it has holds that table's key column and only columns we made (a
    database from before a column was added is ours and gets it); empty: nothing in ``main``."""
    rows = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                       "WHERE table_schema = 'main' AND table_catalog = current_database()").fetchall()
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    if not found:
        return
    ours = our_tables()
    problems = []
    for table, key in _KEYS.items():
        if table in found:
            extra = [c for c in found[table] if c not in ours[table]]
            if key not in found[table] or extra:
                problems.append(f"its table {table} has columns ({', '.join(found[table])}), not ours")
    if not problems and not set(found) & set(_KEYS):
        problems.append(f"it holds {', '.join(sorted(found))} and none of our tables")
    if problems:
        raise StoreError(f"{path}: not an echoroom database: {'; '.join(problems)}. Nothing was changed; "
                         "point --db at a new file name or at a database echoroom made")


@contextmanager
def storage(path: str | Path, doing: str) -> Iterator[None]:
    """Turn the storage faults of a block (disk full, read-only, permissions) into one ``StoreError``
    line naming ``path``; DuckDB rolls back its open transaction itself, so nothing is half-written."""
    try:
        yield
    except StoreError:
        raise
    except OSError as exc:
        if exc.errno not in _STORAGE_ERRNOS:
            raise
        reason = exc.strerror or str(exc)
    except duckdb.Error as exc:
        if not (isinstance(exc, duckdb.IOException) or _disk_words(str(exc))):
            raise
        reason = str(exc).splitlines()[0]
    else:
        return
    raise StoreError(f"{path}: could not {doing} it: {reason}. Free space or fix the permissions, "
                     "then run again: finished work is kept")


def _disk_words(text: str) -> bool:
    low = text.lower()
    return any(w in low for w in ("no space left", "disk full", "file too large", "read-only file system",
                                  "permission denied", "could not write", "could not open"))


def query(con: duckdb.DuckDBPyConnection, name: str, params: dict | list | None = None):
    """Run the named query with bound parameters; errors carry the query name and parameters."""
    try:
        return con.execute(load_sql(name), params or [])
    except duckdb.Error as exc:
        raise type(exc)(f"{exc}\n  in queries/{name}.sql with parameters {params!r}") from exc
