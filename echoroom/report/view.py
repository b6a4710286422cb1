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

from echoroom.labels import LABELS
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
    return [{"name": r["name"], "messages": f"{r['messages']:,}", "shifted": f"{r['shifted']:,}",
             "rate": pct(r["shift_rate"]), "interval": f"{pct(r['wilson_low'])} – {pct(r['wilson_high'])}",
             "divergence": num(r["mean_divergence"])} for r in rows]


def _left_out(rows: list[dict]) -> str | None:
    """The messages not scored for their language, as one line: "12 messages not scored ...: 9 de, 3 es"."""
    if not rows:
        return None
    n = sum(r["messages"] for r in rows)
    return (f"{n:,} message{'s' if n != 1 else ''} not scored, in languages the lenses do not read: "
            + ", ".join(f"{r['messages']:,} {r['language']}" for r in rows))


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
        "left_out": _left_out(data["left_out_languages"]),
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
        "rankings": [{"key": f"{dimension}s", "title": f"{dimension.title()}s", "column": dimension,
                      "rows": _ranking(rows)} for dimension, rows in data["shifting_groups"].items()],
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
