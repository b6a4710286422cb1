"""The drill-down's data: the bounded sample of messages (``queries/drill_messages.sql``) as the
compact JSON the HTML report embeds, with the totals it needs to say "n of N".

The sample holds the most divergent ``DRILL_PER_GROUP`` messages of every matrix cell,
conversation, channel, sender and period (at most ``DRILL_MAX_MESSAGES`` in all), so a click on
any of them shows that group's messages from the file itself, offline. Text is data: the page
puts it into the document with ``textContent``, never as markup.
"""

from __future__ import annotations

from echoroom.report import kinds
from echoroom.report.data import DRILL_MAX_CHARS, DRILL_MAX_MESSAGES, DRILL_PER_GROUP


def _when(x) -> str:
    return x.strftime("%Y-%m-%d %H:%M") if x is not None else ""


def embedded(data: dict) -> dict:
    """``{"messages": [...], "totals": {...}, "cap": {...}}``; one short key per field, since a
    large report embeds thousands of messages."""
    messages = [{"id": r["message_id"], "t": _when(r["sent_at"]), "p": _when(r["period"])[:10],
                 "c": r["conversation_id"] or "", "ch": r["channel"] or "", "s": r["sender"] or "",
                 "x": r["text"], "cut": bool(r["truncated"]) or r["text_chars"] > DRILL_MAX_CHARS,
                 "a": r["author_emotion"], "ac": round(r["author_confidence"], 2),
                 "r": r["reader_emotion"], "rc": round(r["reader_confidence"], 2),
                 "d": round(r["shift_score"], 3), "k": kinds.KINDS[r["shift_kind"]]}
                for r in data["drill"]]
    totals: dict[str, dict] = {"cell": {}, "intended": {}, "period": {}}
    for c in data["shift_matrix"]:
        totals["cell"][f"{c['author_emotion']}|{c['reader_emotion']}"] = c["messages"]
        totals["intended"][c["author_emotion"]] = totals["intended"].get(c["author_emotion"], 0) + c["messages"]
    for dimension, rows in data["shifting_groups"].items():
        totals[dimension] = {r["name"]: r["messages"] for r in rows}
    for r in data["shift_over_time"]:
        totals["period"][r["period"].strftime("%Y-%m-%d")] = r["messages"]
    return {"messages": messages, "totals": totals,
            "cap": {"per_group": DRILL_PER_GROUP, "messages": DRILL_MAX_MESSAGES, "chars": DRILL_MAX_CHARS}}
