"""The filters' data: the counts per conversation, channel, sender, period and matrix cell
(``queries/filter_groups.sql``) as the compact JSON the HTML report embeds, so choosing a sender,
a conversation, a channel or dates recounts the headline figures and the matrix in the page,
offline, exactly as SQL over those messages would.

Names are listed once and rows refer to them by index: a row is
``[conversation, channel, sender, period, author, reader, messages, shifted, divergence]``, each
name an index into its list (-1: none), so a row is about 30 bytes whatever the names' length.
"""

from __future__ import annotations

from echoroom.labels import LABELS
from echoroom.report.data import FILTER_MAX_ROWS

_NAMED = (("c", "conversation_id"), ("ch", "channel"), ("s", "sender"), ("p", "period"))


def _day(x) -> str | None:
    return x.strftime("%Y-%m-%d") if x is not None else None


def embedded(data: dict, min_support: int) -> dict:
    """``{"grain", "cap", "names": {c, ch, s, p, e}, "rows", "min_support"}``; grain
    None when the table was over ``FILTER_MAX_ROWS`` rows and the page cannot recount."""
    table = data["filter_groups"]
    rows = [dict(r, period=_day(r["period"])) for r in table["rows"]]
    names = {key: sorted({r[column] for r in rows if r[column] is not None}) for key, column in _NAMED}
    names["e"] = sorted({r[e] for r in rows for e in ("author_emotion", "reader_emotion")},
                        key=lambda e: (LABELS.index(e) if e in LABELS else len(LABELS), e))
    index = {key: {v: i for i, v in enumerate(values)} for key, values in names.items()}

    def at(key: str, value) -> int:
        return -1 if value is None else index[key][value]

    packed = [[*(at(key, r[column]) for key, column in _NAMED), at("e", r["author_emotion"]),
               at("e", r["reader_emotion"]), r["messages"], r["shifted"], round(r["divergence"] or 0.0, 3)]
              for r in rows]
    return {"grain": table["grain"], "cap": FILTER_MAX_ROWS, "names": names, "rows": packed,
            "min_support": min_support}
