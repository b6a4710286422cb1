"""The shift report: run the report queries over one DuckDB file and render its two outputs.

One run reads the messages in scope once (``queries/report_scope.sql``), runs the named queries
over that snapshot, and turns their rows into ready-to-display values. The same values feed the
interactive HTML report (Vega-Lite charts, the JavaScript inlined) and the email (PNG charts by
Content-ID, see ``echoroom.mail``). Templates live in ``reports/`` and only display.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import duckdb
import jinja2

from echoroom import settings as S
from echoroom import store
from echoroom.labels import LABELS

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "reports"
GRAINS = ("auto", "day", "week")


class ReportError(ValueError):
    """A report that cannot be made, with what to do about it."""


@dataclass(frozen=True)
class ReportSettings:
    db: str = "echoroom.duckdb"       # the scored DuckDB file (read only)
    out: str = "report"               # folder for report.html, report.eml and settings.json
    start: str | None = None          # ISO date or time, inclusive; UTC unless it names a zone
    end: str | None = None            # ISO date or time, exclusive
    days: int | None = None           # without --start: the N days before --end (default: today 00:00 UTC)
    conversation: str | None = None   # only this conversation_id
    channel: str | None = None        # only this channel
    sender: str | None = None         # only this sender
    min_support: int = 5              # fewest messages a group, emotion or term needs to be ranked
    top: int = 10                     # rows per ranking
    grain: str = "auto"               # shift over time per day or week; auto picks by the span
    include_text: bool = False        # message text in the email (always in report.html)
    title: str = "The Echo Room: where meaning shifts"
    quiet: bool = False               # do not print the settings

    def __post_init__(self):
        if self.grain not in GRAINS:
            raise ReportError(f"--grain={self.grain}: expected one of {', '.join(GRAINS)}")
        if self.min_support < 1:
            raise ReportError(f"--min_support={self.min_support}: expected 1 or more")
        if not 1 <= self.top <= 100:
            raise ReportError(f"--top={self.top}: expected 1 to 100 (the email must stay small)")
        if self.days is not None and self.days < 1:
            raise ReportError(f"--days={self.days}: expected 1 or more")
        if self.days is not None and self.start is not None:
            raise ReportError("--days and --start both given: use --days (with --end) or --start/--end")
        start, end = self.period()
        if start and end and start >= end:
            raise ReportError(f"--start={self.start} is not before --end={self.end}: nothing can match")

    def period(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        end = _instant("end", self.end)
        start = _instant("start", self.start)
        if self.days is not None:
            end = end or dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
            start = end - dt.timedelta(days=self.days)
        return start, end

    def filters(self) -> dict:
        start, end = self.period()
        return {"start": start, "end": end, "conversation": self.conversation,
                "channel": self.channel, "sender": self.sender}


def _instant(name: str, raw: str | None) -> dt.datetime | None:
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ReportError(f"--{name}={raw}: expected an ISO date or time such as 2025-03-03 "
                          "or 2025-03-03T09:00+01:00") from None
    # A bare date or time is read as UTC, the zone every other date in the report uses.
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


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


def _connect(db: str) -> duckdb.DuckDBPyConnection:
    try:
        return store.connect(db, read_only=True)
    except duckdb.IOException as exc:
        # DuckDB has one writer per file and readers must wait for it (a scoring run, usually).
        raise ReportError(f"cannot open {db} to read it ({exc}); if a scoring run is writing it, "
                          "make the report when the run has finished") from None


def open_scope(settings: ReportSettings) -> duckdb.DuckDBPyConnection:
    """A read-only connection whose ``message_lenses`` holds only the messages in scope."""
    con = _connect(settings.db)
    con.execute("SET enable_progress_bar = false")  # a setting, not a query: keeps job logs clean
    try:
        run_query(con, "report_scope", settings.filters())
    except duckdb.CatalogException as exc:
        con.close()
        raise ReportError(f"{settings.db} has no scored messages table or view ({exc}); "
                          "is it an Echo Room database? Score a corpus into it first") from None
    return con


def gather(con: duckdb.DuckDBPyConnection, settings: ReportSettings) -> dict:
    """Every query's rows for the report, as plain Python values."""
    params = settings.filters() | {"min_support": settings.min_support, "limit": settings.top}
    data = {"summary": run_query(con, "shift_summary", params)[0]}
    grain = settings.grain
    if grain == "auto":
        first, last = data["summary"]["first_at"], data["summary"]["last_at"]
        grain = "week" if first and last and (last - first).days > 62 else "day"
    data["grain"] = grain
    for name in ("shift_matrix", "misread_emotions", "shifting_conversations", "shifting_channels",
                 "shifting_senders", "divergent_messages", "shift_terms"):
        data[name] = run_query(con, name, params)
    data["shift_over_time"] = run_query(con, "shift_over_time", params | {"grain": grain})
    data["run_metadata"] = run_query(con, "run_metadata", params | {"limit": 5})
    return data


def previous_summary(settings: ReportSettings) -> dict | None:
    """Headline figures for the period just before, when the report covers a bounded period."""
    start, end = settings.period()
    if not (start and end):
        return None
    before = dataclasses.replace(settings, start=(start - (end - start)).isoformat(),
                                 end=start.isoformat(), days=None)
    con = _connect(settings.db)
    try:
        return run_query(con, "shift_summary", before.filters())[0]
    finally:
        con.close()


# ---- display values: the templates get strings and flags, never raw numbers to work on ----

def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def num(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def when(x) -> str:
    if x is None:
        return "–"
    if isinstance(x, dt.datetime) and x.tzinfo:
        x = x.astimezone(dt.timezone.utc)
    return x.strftime("%Y-%m-%d %H:%M") if isinstance(x, dt.datetime) else str(x)


def _ranking(rows: list[dict]) -> list[dict]:
    return [{"name": r["name"], "messages": f"{r['messages']:,}", "shifted": f"{r['shifted']:,}",
             "rate": pct(r["shift_rate"]), "interval": f"{pct(r['wilson_low'])} – {pct(r['wilson_high'])}",
             "divergence": num(r["mean_divergence"])} for r in rows]


def _metrics(raw: str | None) -> str:
    """The accuracy figures a lens recorded, flattened to 'dev accuracy 0.61, ...'."""
    if not raw:
        return "not recorded"
    found: list[str] = []

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix} {key}".strip(), inner)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found.append(f"{prefix} {value:.3f}" if isinstance(value, float) else f"{prefix} {value}")

    walk("", json.loads(raw))
    return ", ".join(found[:8]) or "not recorded"


def context(data: dict, settings: ReportSettings, previous: dict | None, include_text: bool) -> dict:
    """Everything a template shows, ready to print."""
    s = data["summary"]
    start, end = settings.period()
    scope = [f"{k} = {v}" for k, v in (("conversation", settings.conversation),
                                        ("channel", settings.channel), ("sender", settings.sender)) if v]
    trend = None
    if previous and previous["messages"] and s["messages"]:
        delta = s["shift_rate"] - previous["shift_rate"]
        trend = (f"{'up' if delta > 0 else 'down' if delta < 0 else 'unchanged'} "
                 f"{abs(100 * delta):.1f} points from {pct(previous['shift_rate'])} "
                 f"over {previous['messages']:,} messages in the period before")
    matrix = {(c["author_emotion"], c["reader_emotion"]): c for c in data["shift_matrix"]}
    return {
        "title": settings.title,
        "generated": when(dt.datetime.now(dt.timezone.utc)) + " UTC",
        "period": f"{when(start) if start else 'the first message'} to "
                  f"{when(end) if end else 'the last message'} (UTC)",
        "scope": ", ".join(scope) or "all conversations, channels and senders",
        "empty": not s["messages"],
        "summary": {
            "messages": f"{s['messages']:,}", "shifted": f"{s['shifted']:,}",
            "rate": pct(s["shift_rate"]), "interval": f"{pct(s['wilson_low'])} – {pct(s['wilson_high'])}",
            "divergence": num(s["mean_divergence"]), "conversations": f"{s['conversations']:,}",
            "channels": f"{s['channels']:,}", "senders": f"{s['senders']:,}",
            "truncated": f"{s['truncated']:,}", "first": when(s["first_at"]), "last": when(s["last_at"]),
            "trend": trend,
        },
        "labels": list(LABELS),
        "matrix": [{"intended": a, "cells": [
            {"rate": pct(matrix[a, r]["row_rate"]) if (a, r) in matrix else "",
             "messages": matrix[a, r]["messages"] if (a, r) in matrix else 0,
             "diagonal": a == r} for r in LABELS]}
            for a in LABELS if any((a, r) in matrix for r in LABELS)],
        "misread": [{"intended": r["intended"], "messages": f"{r['messages']:,}", "rate": pct(r["misread_rate"]),
                     "interval": f"{pct(r['wilson_low'])} – {pct(r['wilson_high'])}",
                     "read_as": r["read_as"] or "–", "read_as_rate": pct(r["read_as_rate"])}
                    for r in data["misread_emotions"]],
        "rankings": [
            {"key": "conversations", "title": "Conversations", "column": "conversation", "rows": _ranking(data["shifting_conversations"])},
            {"key": "channels", "title": "Channels", "column": "channel", "rows": _ranking(data["shifting_channels"])},
            {"key": "senders", "title": "Senders", "column": "sender", "rows": _ranking(data["shifting_senders"])},
        ],
        "grain": data["grain"],
        "over_time": [{"period": when(r["period"])[:10], "messages": f"{r['messages']:,}",
                       "rate": pct(r["shift_rate"]), "divergence": num(r["mean_divergence"])}
                      for r in data["shift_over_time"]],
        "include_text": include_text,
        "divergent": [{"when": when(r["sent_at"]), "conversation": r["conversation_id"], "channel": r["channel"],
                       "sender": r["sender"], "text": r["text"] if include_text else None,
                       "author": f"{r['author_emotion']} {num(r['author_confidence'])}",
                       "reader": f"{r['reader_emotion']} {num(r['reader_confidence'])}",
                       "divergence": num(r["js_divergence"]), "truncated": bool(r["truncated"])}
                      for r in data["divergent_messages"]],
        "terms": [{"term": r["term"], "support": f"{r['support']:,}", "rate": pct(r["shift_rate"]),
                   "lift": num(r["lift"], 1)} for r in data["shift_terms"]],
        "runs": [{"run_id": r["run_id"], "finished": when(r["finished_at"]), "status": r["status"],
                  "author": r["author_version"], "reader": r["reader_version"],
                  "author_metrics": _metrics(r["author_metrics"]), "reader_metrics": _metrics(r["reader_metrics"]),
                  "messages": f"{r['messages_in_scope']:,}"} for r in data["run_metadata"]],
        "settings": [(f.name, "" if getattr(settings, f.name) is None else str(getattr(settings, f.name)))
                     for f in dataclasses.fields(settings) if f.name != "quiet"],
        "min_support": settings.min_support,
    }


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The one template environment. HTML is always autoescaped; the plain-text email part
    (``*.txt.j2``) is not, because HTML entities would show literally in a text reader."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"),
                                            disabled_extensions=("txt.j2",), default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )


def render(template: str, values: dict) -> str:
    return environment().get_template(template).render(**values)


@lru_cache(maxsize=1)
def vega_javascript() -> str:
    """Vega, Vega-Lite and Vega-Embed as one self-contained script, from the installed vl-convert
    (the same versions that draw the email's PNGs); nothing is fetched when the report opens."""
    import vl_convert

    bundle = vl_convert.javascript_bundle()
    # Inlined in a <script> element, the bundle must not be able to close it early.
    if "</script" in bundle.lower():
        raise ReportError("the vl-convert JavaScript bundle contains '</script' and cannot be inlined")
    return bundle


def build(settings: ReportSettings) -> dict:
    """Write report.html, report.eml and settings.json under ``settings.out``; return their paths."""
    from echoroom import charts, mail

    con = open_scope(settings)
    try:
        data = gather(con, settings)
    finally:
        con.close()
    previous = previous_summary(settings)
    specs = charts.build(data)
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)

    page = context(data, settings, previous, include_text=True)
    page["charts"] = [{"id": name, "title": title, "spec": spec} for name, title, spec in specs]
    page["javascript"] = vega_javascript()
    html_path = out / "report.html"
    html_path.write_text(render("report.html.j2", page), encoding="utf-8")

    letter = context(data, settings, previous, include_text=settings.include_text)
    message = mail.compose(letter, charts.pngs(specs, scale=1.5), scale=1.5, subject=f"{settings.title}: {letter['period']}")
    eml_path = out / "report.eml"
    eml_path.write_bytes(bytes(message))

    settings_path = out / "settings.json"
    settings_path.write_text(S.to_json(settings) + "\n")
    return {"html": html_path, "eml": eml_path, "settings": settings_path,
            "messages": data["summary"]["messages"]}
