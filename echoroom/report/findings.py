"""The findings block: what the report's numbers say, in plain sentences, written from the data.

Each sentence is built only from rows the report already has, and says something only where the
data can carry it: a group "stands out" when its whole 95% interval lies on one side of the rate
of all messages, a term when its lift interval lies above 1; what has fewer than ``min_support``
messages is named as too small to say.
"""

from __future__ import annotations

from echoroom.labels import LABELS
from echoroom.report import kinds

SMALL_CORPUS = 200  # below this many messages, every rate has an interval wider than about ±7 points


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _interval(low: float, high: float) -> str:
    return f"95% interval {_pct(low)}–{_pct(high)}"


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _kinds(cells: list[dict]) -> str | None:
    # Counted over the messages whose two top emotions differ: the kinds are defined on those.
    counts: dict[str, int] = {}
    for c in cells:
        kind = kinds.of(c["author_emotion"], c["reader_emotion"])
        if kind != "none":
            counts[kind] = counts.get(kind, 0) + c["messages"]
    differ = sum(counts.values())
    if not differ:
        return None
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    parts = [f"{_pct(n / differ)} {kinds.KINDS[k]}" for k, n in ordered]
    return f"Of the {differ:,} messages whose two readings name different emotions, {_listing(parts)}."


def _emotions(rows: list[dict]) -> list[str]:
    rows = [r for r in rows if r["misread"]][:3]
    if not rows:
        return []
    first, rest = rows[0], rows[1:]
    said = [f"Messages meant as {first['intended']} are the most often read as another emotion: "
            f"{_pct(first['misread_rate'])} of {first['messages']:,} "
            f"({_interval(first['wilson_low'], first['wilson_high'])}), "
            f"most often as {first['read_as']} ({_pct(first['read_as_rate'])} of them)."]
    if rest:
        said.append("Next: " + _listing([f"{r['intended']} ({_pct(r['misread_rate'])} of {r['messages']:,}, "
                                         f"mostly as {r['read_as']})" for r in rest]) + ".")
    return said


def _top_pair(cells: list[dict]) -> str | None:
    off = [c for c in cells if c["author_emotion"] != c["reader_emotion"]]
    if not off:
        return None
    top = max(off, key=lambda c: (c["messages"], c["author_emotion"], c["reader_emotion"]))
    return (f"The most common single shift is {top['author_emotion']} read as {top['reader_emotion']}: "
            f"{top['messages']:,} messages, {_pct(top['messages'] / sum(c['messages'] for c in off))} of those "
            "read as a different emotion.")


def _groups(dimension: str, rows: list[dict], overall: float) -> str | None:
    if not rows:
        return None
    name = {"conversation": "conversations", "channel": "channels", "sender": "senders"}[dimension]
    above = [r for r in rows if r["wilson_low"] > overall][:3]
    below = [r for r in rows if r["wilson_high"] < overall][:3]

    def one(r: dict) -> str:
        return (f"{r['name']} ({_pct(r['shift_rate'])} of {r['messages']:,}, "
                f"{_interval(r['wilson_low'], r['wilson_high'])})")

    said = []
    if above:
        said.append(f"{name.capitalize()} whose messages shift more than the {_pct(overall)} of all messages: "
                    f"{_listing([one(r) for r in above])}.")
    if below:
        said.append(f"{name.capitalize()} whose messages shift less: {_listing([one(r) for r in below])}.")
    if not said:
        return (f"None of the {len(rows)} ranked {name} stands out: each one's interval includes the "
                f"{_pct(overall)} of all messages.")
    return " ".join(said)


def _periods(rows: list[dict], grain: str, overall: float, min_support: int) -> str | None:
    high = [r for r in rows if r["messages"] >= min_support and r["wilson_low"] > overall][:3]
    if not high:
        return None
    return (f"Shifts ran clearly above the overall rate in the {grain} of "
            + _listing([f"{r['period']:%Y-%m-%d} ({_pct(r['shift_rate'])} of {r['messages']:,})" for r in high]) + ".")


def _terms(rows: list[dict]) -> str | None:
    if not rows:
        return None
    clear = [r for r in rows if r["lift_low"] > 1][:4]
    if not clear:
        return "No word or phrase is clearly tied to shifts: every term's lift interval includes 1."
    return ("Shifted messages more often contain " + _listing(
        [f"“{r['term']}” ({r['lift']:.1f} times as often, in {r['support']:,} messages)" for r in clear]) + ".")


def _too_small(cells: list[dict], min_support: int) -> str | None:
    totals: dict[str, int] = {}
    for c in cells:
        totals[c["author_emotion"]] = totals.get(c["author_emotion"], 0) + c["messages"]
    small = [f"{a} ({totals[a]:,})" for a in LABELS if 0 < totals.get(a, 0) < min_support]
    if not small:
        return None
    return (f"Too few messages to say anything about what happens to {_listing(small)}: each has under "
            f"{min_support} messages (drawn faint in the matrix).")


def sentences(data: dict, min_support: int) -> list[str]:
    """The findings, most important first; empty when nothing is in scope."""
    s = data["summary"]
    if not s["messages"]:
        return []
    cells, shifted, overall = data["shift_matrix"], s["shifted"], s["shift_rate"]
    said = [f"{_pct(overall)} of the {s['messages']:,} messages ({shifted:,}) shift: the reader lens does not read "
            f"them as the author lens says they were meant ({_interval(s['wilson_low'], s['wilson_high'])})."]
    said += [x for x in (_kinds(cells), _top_pair(cells)) if x]
    said += _emotions(data["misread_emotions"])
    said += [x for d, rows in data["shifting_groups"].items() if (x := _groups(d, rows, overall))]
    said += [x for x in (_periods(data["shift_over_time"], data["grain"], overall, min_support),
                         _terms(data["shift_terms"]), _too_small(cells, min_support)) if x]
    return said


def caveats(data: dict) -> list[str]:
    """What the reader should keep in mind for this corpus."""
    s = data["summary"]
    if not s["messages"]:
        return []
    said = ["Both readings come from models, not people: a shift marks a message worth a second look, "
            "not a misunderstanding that happened."]
    neutral = sum(c["messages"] for c in data["shift_matrix"] if c["author_emotion"] != c["reader_emotion"]
                  and "neutral" in (c["author_emotion"], c["reader_emotion"]))
    if neutral:
        said.append(f"{neutral:,} of the shifts involve neutral. The reader lens learnt neutral from other data "
                    "than its emotions, and “neutral” can mean it found no clear emotion rather than a flat tone: "
                    "treat shifts to or from neutral as the least certain (docs/labels.md).")
    if s["messages"] < SMALL_CORPUS:
        said.append(f"With {s['messages']:,} messages every rate here is rough; the intervals show how rough.")
    return said
