"""The saved-query catalog behind ``echoroom sql``: the report queries in ``queries/`` by name, with
the first sentence of their doc comment, run read-only with bound parameters, printed as a table.

    echoroom sql --list
    echoroom sql shifting_groups --param dimension=sender --param min_support=3 --param limit=5
    echoroom sql --sql "SELECT author_emotion, count(*) FROM message_lenses GROUP BY 1"

The database is always opened read-only, so exploring never changes it (saved statements that
write, such as insert_run, fail with DuckDB's read-only error), and with DuckDB's external access
disabled and its configuration locked, so the SQL cannot touch the machine either: no ``COPY ... TO``
or ``EXPORT`` writing files, no ``read_csv``/``read_parquet``/``glob``/``ATTACH`` of other files, no
``INSTALL``/``LOAD`` of extensions, and no ``SET`` turning it back on. A saved query's parameters that are
not given are bound as NULL, which the report queries read as "no filter". The table shows bidi
controls as markers and isolates right-to-left text per cell (``_cell``); ``--csv`` is the raw
values. The connection comes from ``store.connect``, so saved queries and ad-hoc SQL can use the
macros of ``queries/macros.sql``.
"""

from __future__ import annotations

import csv
import re
import sys
import unicodedata
from pathlib import Path

from echoroom import store
from echoroom.report.view import neutralise

_MAX_CELL = 60  # wide enough for a short message; a table of full messages is unreadable
# Bidi classes of letters written right to left (Hebrew; Arabic, Syriac, Thaana) and of Arabic digits.
_RIGHT_TO_LEFT = frozenset({"R", "AL", "AN"})


# The names the three rankings had before shifting_groups replaced them: still accepted, as that
# query with the dimension set (docs/reports.md, "Queries").
ALIASES = {"shifting_conversations": "conversation", "shifting_channels": "channel", "shifting_senders": "sender"}


def _header(text: str) -> list[str]:
    """The opening comment's first paragraph, as lines without their ``--``."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        line = line[2:].strip()
        if not line:
            if lines:
                break
            continue
        lines.append(line)
    return lines


def _first_sentence(name: str, lines: list[str]) -> str:
    text = re.sub(rf"^{re.escape(name)}:\s*", "", " ".join(lines))
    # A sentence ends at a full stop followed by a space or the end, not inside "e.g." or "1.5".
    match = re.search(r"^.*?[.!?](?=\s+[A-Z(]|$)", text)
    return match.group(0) if match else text


def saved() -> dict[str, str]:
    """The report queries a person can run, by name, with the first sentence of their doc comment.

    The statements the scoring run and the report use internally (inserts, the schema, the report's
    snapshot, reads of shard files) are not listed: a report query documents what it ``Returns:``
    and only reads.
    """
    out = {}
    for path in sorted(store.QUERIES_DIR.glob("*.sql")):
        text = path.read_text()
        code = re.sub(r"--[^\n]*", "", text).strip().upper()
        if "Returns:" in text and code.startswith(("SELECT", "WITH")):
            out[path.stem] = _first_sentence(path.stem, _header(text))
    return out


def parameter_names(sql: str) -> list[str]:
    """The ``$names`` a statement binds (comments removed: they document parameters too)."""
    return sorted(set(re.findall(r"\$([A-Za-z_]\w*)", re.sub(r"--[^\n]*", "", sql))))


def value(raw: str):
    """A --param value: null, an integer, a number, true/false, else the text (DuckDB casts it)."""
    if raw.lower() in ("null", "none"):
        return None
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


def parse_params(pairs: list[str]) -> dict:
    params = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_]\w*", name):
            raise ValueError(f"--param expects NAME=VALUE, got {pair!r}")
        params[name] = value(raw)
    return params


def execute(db: str | Path, name: str | None = None, sql: str | None = None,
            params: dict | None = None) -> tuple[list[str], list[tuple]]:
    """Column names and rows of a saved query (by name) or of ad-hoc SQL, on a read-only connection."""
    import duckdb

    params = dict(params or {})
    if name in ALIASES:
        name, params = "shifting_groups", {"dimension": ALIASES[name], **params}
    if name is not None:
        sql = store.load_sql(name)
    wanted = parameter_names(sql)
    unknown = sorted(set(params) - set(wanted))
    if unknown:
        what = f"queries/{name}.sql" if name else "the SQL"
        raise ValueError(f"{what} takes no parameter {', '.join(unknown)}; it takes: {', '.join(wanted) or 'none'}")
    con = store.connect(db, read_only=True)  # defines the macros: before the lock, which forbids nothing of them
    try:
        con.execute("SET enable_progress_bar = false")
        lock_down(con)
        cursor = con.execute(sql, {k: params.get(k) for k in wanted} if wanted else None)
        if cursor.description is None:
            return [], []
        return [d[0] for d in cursor.description], cursor.fetchall()
    except duckdb.Error as exc:
        where = f"queries/{name}.sql" if name else "the SQL"
        raise ValueError(f"{type(exc).__name__} in {where} with parameters {params!r}: {exc}") from None
    finally:
        con.close()


def lock_down(con) -> None:
    """Disable DuckDB's external access (files outside the open database, extension installs and
    loads) and lock the configuration, so the statements run next cannot enable it again."""
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _cell(value):
    """A value as the terminal table shows it: on one line, cut to ``_MAX_CELL`` characters, bidi
    controls as visible markers (the report's rule, ``view.neutralise``), and text holding
    right-to-left letters isolated (U+2068 ... U+2069), so it cannot reorder the columns around it."""
    if not isinstance(value, str):
        return neutralise(value)
    # One result row, one line: a message's line breaks would otherwise split its row.
    text = neutralise(value.replace("\n", " "))
    # Cut here, not by polars: a cut after the isolate would drop its closing U+2069.
    text = text[:_MAX_CELL] + "..." if len(text) > _MAX_CELL else text
    if any(unicodedata.bidirectional(ch) in _RIGHT_TO_LEFT for ch in text):
        return f"\u2068{text}\u2069"
    return text


def table(columns: list[str], rows: list[tuple]) -> str:
    """The rows as polars prints a frame, in Markdown (paste it into an issue), with psql's row count."""
    import polars as pl

    if not columns:  # a statement that returns nothing
        return "(0 rows)"
    # SQL allows a name twice (SELECT a.id, b.id), a frame does not: repeats get DuckDB's _1, _2.
    names = [f"{c}_{columns[:i].count(c)}" if c in columns[:i] else c for i, c in enumerate(columns)]
    names = [_cell(n) for n in names]
    shown_rows = [tuple(_cell(v) for v in row) for row in rows]
    frame = pl.DataFrame(shown_rows, schema=names, orient="row", infer_schema_length=None)
    with pl.Config(tbl_formatting="ASCII_MARKDOWN", tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True,
                   tbl_rows=-1, tbl_cols=-1, tbl_width_chars=-1, tbl_cell_numeric_alignment="RIGHT",
                   fmt_str_lengths=_MAX_CELL + len("...") + 2):
        shown = str(frame)
    return f"{shown}\n({len(rows)} row{'s' if len(rows) != 1 else ''})"


def print_csv(columns: list[str], rows: list[tuple], stream=None) -> None:
    writer = csv.writer(stream or sys.stdout)
    writer.writerow(columns)
    writer.writerows(rows)
