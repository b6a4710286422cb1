"""Display values: the templates get strings and flags, never raw numbers to work on.

Every string from the database or the user (senders, conversations, channels, message text,
terms, the title and filters) passes through ``neutralise``: bidirectional control characters,
which would visually reorder what follows them in the HTML report, the email and a chart, show as
a visible marker such as ``[U+202E]`` instead. HTML escaping is the templates' (autoescape).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

from echoroom.labels import LABELS
from echoroom.report import findings, kinds
from echoroom.report.data import DIMENSIONS
from echoroom.report.settings import ReportSettings

# Embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), the direction marks (U+200E,
# U+200F) and the Arabic letter mark (U+061C): each can reorder the text around it on screen.
BIDI_CONTROLS = frozenset([*map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A)),
                           "\u200e", "\u200f", "\u061c"])
_VISIBLE = {ord(c): f"[U+{ord(c):04X}]" for c in BIDI_CONTROLS}


def neutralise(value):
    """``value`` with every bidi control in its strings (inside dicts, lists and tuples too) shown
    as ``[U+XXXX]``; anything else is returned as it is."""
    if isinstance(value, str):
        return value.translate(_VISIBLE)
    if isinstance(value, dict):
        return {k: neutralise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(neutralise(v) for v in value)
    return value


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
    # The order of the chart: by shift rate, the length of its bar (charts.ranking).
    rows = sorted(rows, key=lambda r: (-r["shift_rate"], -r["messages"], r["name"] or ""))
    return [{"name": r["name"], "messages": f"{r['messages']:,}", "shifted": f"{r['shifted']:,}",
             "rate": pct(r["shift_rate"]), "interval": f"{pct(r['wilson_low'])} – {pct(r['wilson_high'])}",
             "divergence": num(r["mean_divergence"])} for r in rows]


OVERLAP = "All these intervals overlap: the data cannot tell these apart, so read the order as a list, not a ranking."


def _overlap(rows: list[dict]) -> str | None:
    """A sentence when every interval in a ranking overlaps every other: the order is then not
    evidence that one group shifts more than another."""
    if len(rows) < 2:
        return None
    if max(r["wilson_low"] for r in rows) <= min(r["wilson_high"] for r in rows):
        return OVERLAP
    return None


def _left_out(rows: list[dict]) -> str | None:
    """The messages not scored for their language, as one line: "12 messages not scored ...: 9 de, 3 es"."""
    if not rows:
        return None
    n = sum(r["messages"] for r in rows)
    return (f"{n:,} message{'s' if n != 1 else ''} not scored, in languages the lenses do not read: "
            + ", ".join(f"{r['messages']:,} {r['language']}" for r in rows))


def _quality(raw: str | None) -> dict:
    """The headline test figures a lens recorded: the first object holding an accuracy."""
    queue = [("", json.loads(raw))] if raw else []
    while queue:
        where, value = queue.pop(0)
        if isinstance(value, dict) and isinstance(value.get("accuracy"), (int, float)):
            return {"on": where.strip(".") or "–", "accuracy": num(value.get("accuracy")),
                    "macro_f1": num(value.get("macro_f1")), "ece": num(value.get("ece"), 3),
                    "n": f"{value['n']:,}" if isinstance(value.get("n"), int) else "–"}
        if isinstance(value, dict):
            queue += [(f"{where}.{k}", v) for k, v in value.items()]
    return {"on": "not recorded", "accuracy": "–", "macro_f1": "–", "ece": "–", "n": "–"}


def _setting(name: str, value) -> str:
    if value is None:
        return ""
    # The database and output folders by name only: an absolute path says where someone's files
    # live, and the email travels (settings.json keeps the full paths).
    return Path(str(value)).name if name in ("db", "out") else str(value)


def _period(start, end, s: dict) -> str:
    if start and end:
        return f"{when(start)} to {when(end)} (UTC)"
    first = when(start) if start else (when(s["first_at"]) if s["first_at"] else None)
    last = when(end) if end else (when(s["last_at"]) if s["last_at"] else None)
    if first and last:
        return f"{first} to {last} (UTC)"
    if first or last:
        return f"from {first} (UTC)" if first else f"until {last} (UTC)"
    return "all messages (they have no send times)"


def _matrix(rows: list[dict], min_support: int) -> list[dict]:
    cells = {(c["author_emotion"], c["reader_emotion"]): c for c in rows}
    out = []
    for a in LABELS:
        total = sum(c["messages"] for (x, _), c in cells.items() if x == a)
        if not total:
            continue
        out.append({"intended": a, "messages": f"{total:,}", "few": total < min_support, "cells": [
            {"rate": pct(cells[a, r]["row_rate"]) if (a, r) in cells else "",
             "count": f"{cells[a, r]['messages']:,}" if (a, r) in cells else "",
             "perceived": r, "kind": kinds.of(a, r), "diagonal": a == r} for r in LABELS]})
    return out


def context(data: dict, settings: ReportSettings, previous: dict | None, include_text: bool) -> dict:
    """Everything a template shows, ready to print, with every string ``neutralise``d (the result is:
    each string shown comes out of it, so the data need not be neutralised first)."""
    return neutralise(_context(data, settings, previous, include_text))


def _context(data: dict, settings: ReportSettings, previous: dict | None, include_text: bool) -> dict:
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
    return {
        "title": settings.title,
        "generated": when(dt.datetime.now(dt.timezone.utc)) + " UTC",
        "period": _period(start, end, s),
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
        "findings": findings.sentences(data, settings.min_support),
        "caveats": findings.caveats(data),
        "left_out": _left_out(data["left_out_languages"]),
        "labels": list(LABELS),
        "matrix": _matrix(data["shift_matrix"], settings.min_support),
        "kinds": [{"kind": kinds.KINDS[r["shift_kind"]], "messages": f"{r['messages']:,}", "share": pct(r["share"]),
                   "shifted": f"{r['shifted']:,}", "rate": pct(r["shift_rate"]), "score": num(r["mean_score"]),
                   "gap": "–" if r["mean_valence_gap"] is None else f"{r['mean_valence_gap']:+.2f}",
                   "sarcasm": "–" if r["mean_sarcasm"] is None else pct(r["mean_sarcasm"])}
                  for r in data.get("shift_kinds", [])],
        "misread": [{"intended": r["intended"], "messages": f"{r['messages']:,}", "rate": pct(r["misread_rate"]),
                     "interval": f"{pct(r['wilson_low'])} – {pct(r['wilson_high'])}",
                     "read_as": r["read_as"] or "–", "read_as_rate": pct(r["read_as_rate"])}
                    for r in data["misread_emotions"]],
        "rankings": [{"key": f"{dimension}s", "title": f"{dimension.title()}s", "column": dimension,
                      "absent": data["absent"][dimension],
                      "rows": _ranking(data["shifting_groups"].get(dimension, [])),
                      "overlap": _overlap(data["shifting_groups"].get(dimension, []))} for dimension in DIMENSIONS],
        "grain": data["grain"],
        "over_time": [{"period": r["period"].strftime("%Y-%m-%d"), "messages": f"{r['messages']:,}",
                       "shifted": f"{r['shifted']:,}", "rate": pct(r["shift_rate"]),
                       "interval": f"{pct(r['wilson_low'])} – {pct(r['wilson_high'])}" if r["messages"] else "–"}
                      for r in data["shift_over_time"] if r["period"] is not None],
        "untimed": _untimed(s),
        "include_text": include_text,
        "divergent": [{"when": when(r["sent_at"]), "conversation": r["conversation_id"], "channel": r["channel"],
                       "sender": r["sender"], "text": r["text"] if include_text else None,
                       "author": f"{r['author_emotion']} {num(r['author_confidence'])}",
                       "reader": f"{r['reader_emotion']} {num(r['reader_confidence'])}",
                       "divergence": num(r["js_divergence"]), "truncated": bool(r["truncated"])}
                      for r in data["divergent_messages"]],
        "terms": [{"term": r["term"], "support": f"{r['support']:,}", "rate": pct(r["shift_rate"]),
                   "lift": num(r["lift"], 1), "interval": f"{num(r['lift_low'], 1)} – {num(r['lift_high'], 1)}",
                   "clear": r["lift_low"] > 1} for r in sorted(data["shift_terms"], key=lambda r: -r["lift"])],
        "runs": [{"run_id": r["run_id"], "finished": when(r["finished_at"]), "status": r["status"],
                  "author": r["author_version"], "reader": r["reader_version"],
                  "messages": f"{r['messages_in_scope']:,}"} for r in data["run_metadata"]],
        "quality": [dict(_quality(run[f"{lens}_metrics"]), lens=lens, version=run[f"{lens}_version"])
                    for run in data["run_metadata"][:1] for lens in ("author", "reader")],
        "settings": [(f.name, _setting(f.name, getattr(settings, f.name)))
                     for f in dataclasses.fields(settings) if f.name != "quiet"],
        "min_support": settings.min_support,
        "shift_threshold": f"{settings.shift_threshold:g}",
    }


def _untimed(s: dict) -> str | None:
    """Why the time chart is missing or incomplete, as a sentence."""
    if not s["messages"] or s["timed"] == s["messages"]:
        return None
    if not s["timed"]:
        return "These messages have no send times, so there is no chart over time."
    missing = s["messages"] - s["timed"]
    return f"{missing:,} of the {s['messages']:,} messages have no send time and are not in this chart."
