"""The report's charts: Altair specifications from the report queries' rows, and PNGs of them.

A chart is ``(name, title, spec)`` with ``spec`` a Vega-Lite dict: the HTML report embeds it
(Vega-Embed draws it in the browser), the email attaches ``pngs(...)`` of the same specs, drawn
offline by vl-convert. A section without rows gets no chart; its template says why.
"""

from __future__ import annotations

import altair as alt

from echoroom.labels import LABELS

WIDTH = 520  # fits the email's 600 px column with its padding
# Rows are ordered by a "rank" field, never by a sort list of their values: Vega-Lite turns a sort
# list into expression code, and these values (terms, names) come from users' messages.
BY_RANK = alt.EncodingSortField("rank", order="ascending")
RANKING_TITLES = {"conversation": "Conversations that shift most", "channel": "Channels that shift most",
                  "sender": "Senders whose messages shift most"}


def _spec(chart: alt.TopLevelMixin) -> dict:
    return chart.properties(width=WIDTH).configure_view(stroke=None).to_dict()


def matrix(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    seen = {(r["author_emotion"], r["reader_emotion"]): r for r in rows}
    authors = [a for a in LABELS if any(k[0] == a for k in seen)]
    # Every cell of the rows present is drawn, zeros included, so an empty cell reads as "never".
    cells = [{"intended": a, "perceived": b,
              "rate": seen[a, b]["row_rate"] if (a, b) in seen else 0.0,
              "messages": seen[a, b]["messages"] if (a, b) in seen else 0} for a in authors for b in LABELS]
    base = alt.Chart(alt.Data(values=cells)).encode(
        x=alt.X("perceived:N", sort=list(LABELS), title="perceived by the reader lens"),
        y=alt.Y("intended:N", sort=list(LABELS), title="intended by the author lens"))
    heat = base.mark_rect().encode(
        color=alt.Color("rate:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="share of row"),
        tooltip=["intended:N", "perceived:N", alt.Tooltip("rate:Q", format=".1%"), "messages:Q"])
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text("rate:Q", format=".0%"),
        color=alt.condition(alt.datum.rate > 0.5, alt.value("white"), alt.value("#333")))
    return _spec((heat + text).properties(height=24 * len(authors)))


def misread(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    values = [{"rank": i, "intended": r["intended"], "rate": r["misread_rate"], "low": r["wilson_low"],
               "high": r["wilson_high"], "read_as": r["read_as"] or "", "messages": r["messages"]}
              for i, r in enumerate(rows)]
    base = alt.Chart(alt.Data(values=values)).encode(y=alt.Y("intended:N", sort=BY_RANK, title=None))
    bars = base.mark_bar(color="#4c78a8").encode(
        x=alt.X("rate:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]), title="misread rate"),
        tooltip=["intended:N", alt.Tooltip("rate:Q", format=".1%"), "read_as:N", "messages:Q"])
    whiskers = base.mark_rule(color="#222").encode(x="low:Q", x2="high:Q")
    return _spec((bars + whiskers).properties(height=22 * len(values)))


def ranking(rows: list[dict], what: str) -> dict | None:
    if not rows:
        return None
    values = [{"rank": i, "name": r["name"], "rate": r["shift_rate"], "low": r["wilson_low"],
               "high": r["wilson_high"], "messages": r["messages"]} for i, r in enumerate(rows)]
    base = alt.Chart(alt.Data(values=values)).encode(
        y=alt.Y("name:N", sort=BY_RANK, title=what,
                axis=alt.Axis(labelLimit=180)))
    bars = base.mark_bar(color="#e45756").encode(
        x=alt.X("rate:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]),
                title="shift rate (bars: 95% Wilson interval)"),
        tooltip=["name:N", alt.Tooltip("rate:Q", format=".1%"), alt.Tooltip("low:Q", format=".1%"),
                 alt.Tooltip("high:Q", format=".1%"), "messages:Q"])
    whiskers = base.mark_rule(color="#222").encode(x="low:Q", x2="high:Q")
    return _spec((bars + whiskers).properties(height=22 * len(values)))


def over_time(rows: list[dict], grain: str) -> dict | None:
    if not rows:
        return None
    values = [{"period": r["period"].strftime("%Y-%m-%d"), "rate": r["shift_rate"], "low": r["wilson_low"],
               "high": r["wilson_high"], "divergence": r["mean_divergence"], "messages": r["messages"]}
              for r in rows]
    x = alt.X("period:T", title=f"{grain} (UTC)", axis=alt.Axis(format="%Y-%m-%d"))
    base = alt.Chart(alt.Data(values=values)).encode(x=x)
    band = base.mark_area(opacity=0.2, color="#e45756").encode(y=alt.Y("low:Q"), y2="high:Q")
    rate = base.mark_line(point=True, color="#e45756").encode(
        y=alt.Y("rate:Q", axis=alt.Axis(format="%"), title="shift rate (band: 95% Wilson interval)"),
        tooltip=["period:T", alt.Tooltip("rate:Q", format=".1%"), "messages:Q",
                 alt.Tooltip("divergence:Q", format=".3f")])
    divergence = base.mark_line(strokeDash=[4, 3], color="#4c78a8").encode(
        y=alt.Y("divergence:Q", title="mean divergence (dashed)"))
    return _spec(alt.layer(band + rate, divergence).resolve_scale(y="independent").properties(height=200))


def terms(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    values = [{"rank": i, "term": r["term"], "lift": r["lift"], "support": r["support"], "rate": r["shift_rate"]}
              for i, r in enumerate(rows)]
    chart = alt.Chart(alt.Data(values=values)).mark_bar(color="#72b7b2").encode(
        y=alt.Y("term:N", sort=BY_RANK, title=None, axis=alt.Axis(labelLimit=180)),
        # Linear, not log: Vega-Lite bars grow from zero, which a log scale cannot place.
        x=alt.X("lift:Q", title="lift: how much likelier in shifted messages"),
        tooltip=["term:N", alt.Tooltip("lift:Q", format=".2f"), "support:Q", alt.Tooltip("rate:Q", format=".1%")])
    return _spec(chart.properties(height=20 * len(values)))


def build(data: dict) -> list[tuple[str, str, dict]]:
    """The charts that have data, in report order."""
    candidates = [
        ("matrix", "Intended → perceived", matrix(data["shift_matrix"])),
        ("misread", "Most misread emotions", misread(data["misread_emotions"])),
        ("over_time", "Shift rate over time", over_time(data["shift_over_time"], data["grain"])),
        *((f"{dimension}s", RANKING_TITLES[dimension], ranking(rows, dimension))
          for dimension, rows in data["shifting_groups"].items()),
        ("terms", "Words and phrases that come with shifts", terms(data["shift_terms"])),
    ]
    return [(name, title, spec) for name, title, spec in candidates if spec is not None]


def pngs(charts: list[tuple[str, str, dict]], scale: float = 2.0) -> list[tuple[str, str, bytes]]:
    """``(name, title, PNG bytes)`` per chart, drawn offline (scale 2 stays sharp on
    high-density screens)."""
    import vl_convert

    return [(name, title, vl_convert.vegalite_to_png(spec, scale=scale)) for name, title, spec in charts]
