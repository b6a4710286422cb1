"""The report's data: the named queries run over one read-only snapshot of the messages in scope.

One run reads the messages in scope once (``queries/report_scope.sql``) and runs the other named
queries over that snapshot; rows come back as plain dicts.
"""

from __future__ import annotations

import dataclasses
import re

import duckdb

from echoroom import store
from echoroom.report.settings import ReportError, ReportSettings
from echoroom.report.terms import STOPWORDS, lift_interval

# What the report ranks, as the $dimension values queries/shifting_groups.sql accepts.
DIMENSIONS = ("conversation", "channel", "sender")
# The drill-down's embedded sample (queries/drill_messages.sql): the most divergent DRILL_PER_GROUP
# messages of every matrix cell, conversation, channel, sender and period, at most
# DRILL_MAX_MESSAGES in all, each text cut to DRILL_MAX_CHARS characters. About 1 MB of JSON at
# most, whatever the size of the database (docs/reports.md, "Drill-down").
DRILL_PER_GROUP = 25
DRILL_MAX_MESSAGES = 3000
DRILL_MAX_CHARS = 400
# The filters' table (queries/filter_groups.sql): messages counted per conversation, channel,
# sender, period, matrix cell and kind, at most FILTER_MAX_ROWS rows (about 65 bytes of JSON each,
# so under 2.3 MB). queries/filter_sizes.sql lists the ways of counting it, finest first: per UTC day,
# week, month, without time, then per month with only the busiest 1,000 ... 10 names of each
# dimension; the report takes the first that fits. Past them all the page cannot recount and its
# filters say so (docs/reports.md, "Filters").
FILTER_MAX_ROWS = 35_000
FILTER_GRAINS = ("day", "week", "month", "none")


def run_query(con: duckdb.DuckDBPyConnection, name: str, params: dict) -> list[dict]:
    """Rows of ``queries/<name>.sql`` as dicts, binding only the parameters it names.

    DuckDB rejects unused named parameters, and every query takes a different subset of the
    report's, so the ``$names`` are read from the SQL (its comments removed) and bound by name.
    """
    sql = store.load_sql(name)
    code = re.sub(r"--[^\n]*", "", sql)
    wanted = set(re.findall(r"\$([A-Za-z_]\w*)", code))
    missing = wanted - params.keys()
    if missing:
        raise ReportError(f"queries/{name}.sql needs parameters {sorted(missing)}; given {sorted(params)}")
    cursor = store.query(con, name, {k: params[k] for k in sorted(wanted)})
    if cursor.description is None:
        return []
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def _connect(db: str, shift_threshold: float | None = None) -> duckdb.DuckDBPyConnection:
    try:
        return store.connect(db, read_only=True, shift_threshold=shift_threshold)
    except (duckdb.IOException, store.StoreError) as exc:
        # DuckDB has one writer per file and readers must wait for it (a scoring run, usually);
        # the store reports a held lock as a StoreError naming the file.
        if "lock" not in str(exc).lower():
            raise
        raise ReportError(f"cannot open {db} to read it ({exc}); if a scoring run is writing it, "
                          "make the report when the run has finished") from None


def open_scope(settings: ReportSettings) -> duckdb.DuckDBPyConnection:
    """A read-only connection whose ``message_lenses`` holds only the messages in scope."""
    con = _connect(settings.db, settings.shift_threshold)
    con.execute("SET enable_progress_bar = false")  # a setting, not a query: keeps job logs clean
    try:
        run_query(con, "report_scope", settings.filters())
    except duckdb.CatalogException as exc:
        con.close()
        raise ReportError(f"{settings.db} has no scored messages table or view ({exc}); "
                          "is it an Echo Room database? Score a corpus into it first") from None
    return con


def dimensions(summary: dict) -> dict[str, str | None]:
    """Per ranking dimension, why it is not drawn (a sentence), or None when it is.

    A corpus may lack senders, conversations or channels (a plain Parquet file of ids and texts);
    and where each conversation is its own channel (WhatsApp exports) the channel ranking would
    repeat the conversation ranking row for row.
    """
    counts = {"conversation": summary["conversations"], "channel": summary["channels"],
              "sender": summary["senders"]}
    why: dict[str, str | None] = {}
    for dimension, n in counts.items():
        if not summary["messages"]:
            why[dimension] = None
        elif n == 0:
            why[dimension] = f"The messages have no {dimension}, so there is no {dimension} ranking."
        elif n == 1:
            why[dimension] = f"All messages are in one {dimension}, so there is nothing to rank."
        else:
            why[dimension] = None
    pairs = summary["conversation_channels"]
    if not why["channel"] and not why["conversation"] and pairs == counts["conversation"] == counts["channel"]:
        why["channel"] = ("Each conversation is its own channel here (as in WhatsApp exports), so a channel "
                          "ranking would repeat the conversation ranking.")
    return why


def gather(con: duckdb.DuckDBPyConnection, settings: ReportSettings) -> dict:
    """Every query's rows for the report, as plain Python values."""
    params = settings.filters() | {"min_support": settings.min_support, "limit": settings.top}
    data = {"summary": run_query(con, "shift_summary", params)[0]}
    summary = data["summary"]
    grain = settings.grain
    if grain == "auto":
        first, last = summary["first_at"], summary["last_at"]
        grain = "week" if first and last and (last - first).days > 62 else "day"
    data["grain"] = grain
    for name in ("shift_matrix", "shift_kinds", "misread_emotions", "divergent_messages"):
        data[name] = run_query(con, name, params)
    data["shift_terms"] = [dict(t, **dict(zip(("lift_low", "lift_high"),
                                             lift_interval(t, summary["messages"], summary["shifted"]))))
                           for t in run_query(con, "shift_terms", params | {"stopwords": list(STOPWORDS)})]
    data["absent"] = dimensions(summary)
    # One ranking query, run once per dimension that can be drawn, in DIMENSIONS order.
    data["shifting_groups"] = {dimension: run_query(con, "shifting_groups", params | {"dimension": dimension})
                               for dimension in DIMENSIONS if not data["absent"][dimension]}
    timed = summary["timed"] or 0
    data["shift_over_time"] = run_query(con, "shift_over_time", params | {"grain": grain}) if timed else []
    data["run_metadata"] = run_query(con, "run_metadata", params | {"limit": 5})
    data["left_out_languages"] = run_query(con, "left_out_languages", params)
    data["drill"] = run_query(con, "drill_messages", params | {"grain": grain, "per_group": DRILL_PER_GROUP,
                                                               "max_messages": DRILL_MAX_MESSAGES,
                                                               "max_chars": DRILL_MAX_CHARS})
    data["filter_groups"] = filter_groups(con, params, summary["messages"])
    return data


def filter_groups(con: duckdb.DuckDBPyConnection, params: dict, messages: int,
                  max_rows: int = FILTER_MAX_ROWS) -> dict:
    """The filters' table, counted the finest way that fits ``max_rows``:
    ``{"grain": "day" | "week" | "month" | "none" | None, "keep": int | None, "rows": [...]}``;
    ``keep`` is how many names of each dimension it keeps (None: all), grain None when no way fits
    (no rows then).

    Fewer messages than ``max_rows`` always fit per day. Otherwise ``filter_sizes`` estimates every
    way in one pass and only those estimated to fit (give or take its error) are run, each checked
    by its own row cap.
    """
    # The estimates are HyperLogLog's, a few percent (or, for a few groups, a few groups) either way.
    ways = ([{"grain": "day", "keep": None}] if messages <= max_rows else
            [w for w in run_query(con, "filter_sizes", params) if w["groups"] <= 1.05 * max_rows + 5])
    for way in ways:
        rows = run_query(con, "filter_groups", params | {"grain": way["grain"], "limit": way["keep"],
                                                         "max_rows": max_rows})
        if len(rows) <= max_rows:
            return {"grain": way["grain"], "keep": way["keep"], "rows": rows}
    return {"grain": None, "keep": None, "rows": []}


def previous_summary(settings: ReportSettings) -> dict | None:
    """Headline figures for the period just before, when the report covers a bounded period."""
    start, end = settings.period()
    if not (start and end):
        return None
    before = dataclasses.replace(settings, start=(start - (end - start)).isoformat(),
                                 end=start.isoformat(), days=None)
    con = _connect(settings.db, settings.shift_threshold)
    try:
        return run_query(con, "shift_summary", before.filters())[0]
    finally:
        con.close()
