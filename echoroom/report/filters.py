"""The filters' data: the counts per conversation, channel, sender, period, matrix cell and kind
(``queries/filter_groups.sql``) as the compact JSON the HTML report embeds, so choosing a sender,
a conversation, a channel or dates recounts every section computed from messages in the page,
offline, exactly as SQL over those messages would: the headline figures, the kinds of shift, the
matrix, the emotions read as another, the three rankings and the time chart.

Names are listed once and rows refer to them by index (-1: none; -2: one of the names the table
did not keep, see ``keep``), so a row is about 65 bytes whatever the names' length. Sums are whole
millionths, so a mean recounted from them is the database's to well within its last shown digit.
"""

from __future__ import annotations

from echoroom.labels import LABELS
from echoroom.report import kinds
from echoroom.report.data import FILTER_MAX_ROWS
from echoroom.report.view import OVERLAP

_NAMED = (("c", "conversation_id", "other_conversation"), ("ch", "channel", "other_channel"),
          ("s", "sender", "other_sender"), ("p", "period", None))
SCALE = 1_000_000
# A row's columns: the names' indexes, then counts and sums. The columns holding how many messages
# have a valence gap and a sarcasm value are left out when that is every message of every row.
COLUMNS = ("c", "ch", "s", "p", "a", "r", "k", "n", "x", "d", "sc", "g", "gn", "sa", "sn")


def _day(x) -> str | None:
    return x.strftime("%Y-%m-%d") if x is not None else None


def _names(rows: list[dict]) -> dict[str, list[str]]:
    names = {key: sorted({r[column] for r in rows if r[column] is not None}) for key, column, _ in _NAMED}
    names["e"] = sorted({r[e] for r in rows for e in ("author_emotion", "reader_emotion")},
                        key=lambda e: (LABELS.index(e) if e in LABELS else len(LABELS), e))
    names["k"] = sorted({r["shift_kind"] for r in rows})
    return names


def _columns(rows: list[dict]) -> list[str]:
    full = {"gn": all(r["valence_gaps"] == r["messages"] for r in rows),
            "sn": all(r["sarcasms"] == r["messages"] for r in rows)}
    return [c for c in COLUMNS if not full.get(c)]


def _packers(index: dict[str, dict]) -> dict:
    """Per column, how a row of filter_groups gives its value."""
    def name(key: str, column: str, other: str | None):
        return lambda r: -2 if other and r[other] else -1 if r[column] is None else index[key][r[column]]

    def total(column: str):
        return lambda r: round((r[column] or 0.0) * SCALE)

    def count(column: str):
        return lambda r: r[column]

    return {**{key: name(key, column, other) for key, column, other in _NAMED},
            "a": lambda r: index["e"][r["author_emotion"]], "r": lambda r: index["e"][r["reader_emotion"]],
            "k": lambda r: index["k"][r["shift_kind"]], "n": count("messages"), "x": count("shifted"),
            "d": total("divergence"), "sc": total("score"), "g": total("valence_gap"), "gn": count("valence_gaps"),
            "sa": total("sarcasm"), "sn": count("sarcasms")}


def embedded(data: dict, min_support: int, top: int) -> dict:
    """``{"grain", "keep", "cap", "chart_grain", "names", "all", "kinds", "columns", "rows", "scale",
    "min_support", "top", "overlap"}``: grain None when no way of counting fitted ``FILTER_MAX_ROWS`` rows and
    the page cannot recount; ``all`` the number of names of each dimension in the whole report (more
    than ``names`` holds when ``keep`` is set)."""
    table = data["filter_groups"]
    rows = [dict(r, period=_day(r["period"])) for r in table["rows"]]
    names = _names(rows)
    packers = _packers({key: {v: i for i, v in enumerate(values)} for key, values in names.items()})
    columns = _columns(rows)
    s = data["summary"]
    return {"grain": table["grain"], "keep": table.get("keep"), "cap": FILTER_MAX_ROWS,
            "chart_grain": data["grain"], "names": names,
            "all": {"c": s["conversations"], "ch": s["channels"], "s": s["senders"]},
            "kinds": {k: kinds.KINDS.get(k, k) for k in names["k"]}, "columns": columns,
            "rows": [[packers[c](r) for c in columns] for r in rows], "scale": SCALE,
            "min_support": min_support, "top": top, "overlap": OVERLAP}
