"""The report's charts: Altair specifications from the report queries' rows, and PNGs of them.

A chart is ``(name, title, spec)`` with ``spec`` a Vega-Lite dict: the HTML report embeds it
(Vega-Embed draws it in the browser), the email attaches ``pngs(...)`` of the same specs, drawn
offline by vl-convert. A section without rows gets no chart; its template says why. Each spec's
``usermeta.drill`` names what a click on a mark selects in the HTML report's drill-down; its data
sets are named ("main", and "overall" for the rate of all messages) so the page's filters can
replace them.

Rules that keep them honest: counts beside every rate, zero cells left blank, one y-axis per
chart, rows in the order of the length they show, intervals drawn and named in the axis title.
"""

from __future__ import annotations

import altair as alt

from echoroom.labels import LABELS
from echoroom.report import kinds

WIDTH = 520  # fits the email's 600 px column with its padding; the HTML scales it down on phones
# Rows are ordered by a "rank" field, never by a sort list of their values: Vega-Lite turns a sort
# list into expression code, and these values (terms, names) come from users' messages. The op is
# "min" because a layered chart unions its layers' domains, and Vega-Lite drops any other op there
# (the default, "sum") and sorts the rows by name instead.
BY_RANK = alt.EncodingSortField("rank", op="min", order="ascending")
RANKING_TITLES = {"conversation": "Conversations that shift most", "channel": "Channels that shift most",
                  "sender": "Senders whose messages shift most"}
SHIFT, INTERVAL, OVERALL = "#e45756", "#222222", "#888888"


def _spec(chart: alt.TopLevelMixin, drill: str, width: int | None = WIDTH) -> dict:
    chart = chart.properties(width=width) if width else chart
    spec = chart.configure_view(stroke=None).to_dict()
    spec["usermeta"] = {"drill": drill}
    return spec


def _data(values: list[dict], name: str = "main") -> alt.Data:
    """Inline data with a name: the HTML report's filters swap a named data set's values for their
    recount (``_filters_sections.js.j2``) and draw the chart again."""
    return alt.Data(values=values, name=name)


def _legend(series: dict[str, str]) -> alt.Color:
    """A colour channel whose only job is the legend: one entry per named series."""
    return alt.Color("series:N", scale=alt.Scale(domain=list(series), range=list(series.values())),
                     legend=alt.Legend(orient="top", title=None))


def matrix(rows: list[dict], min_support: int) -> dict | None:
    if not rows:
        return None
    totals: dict[str, int] = {}
    for r in rows:
        totals[r["author_emotion"]] = totals.get(r["author_emotion"], 0) + r["messages"]
    order = {a: i for i, a in enumerate(LABELS)}
    # Only observed cells are drawn: an empty cell stays blank and reads as "never", not "a little".
    cells = [{"intended": r["author_emotion"], "perceived": r["reader_emotion"],
              "row": f"{r['author_emotion']} ({totals[r['author_emotion']]:,})",
              "rank": order.get(r["author_emotion"], len(order)), "rate": r["row_rate"], "messages": r["messages"],
              "kind": kinds.KINDS[kinds.of(r["author_emotion"], r["reader_emotion"])],
              "few": totals[r["author_emotion"]] < min_support} for r in rows]
    base = alt.Chart(_data(cells)).encode(
        x=alt.X("perceived:N", sort=list(LABELS), scale=alt.Scale(domain=list(LABELS)),
                title="perceived by the reader lens", axis=alt.Axis(labelAngle=-40, orient="top")),
        y=alt.Y("row:N", sort=BY_RANK, title="intended by the author lens (messages)"))
    heat = base.mark_rect().encode(
        color=alt.Color("rate:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="share of row"),
        # rows too small to say anything are drawn faint, so the eye is not drawn to them
        opacity=alt.condition(alt.datum.few, alt.value(0.3), alt.value(1.0)),
        tooltip=["intended:N", "perceived:N", "kind:N", alt.Tooltip("rate:Q", format=".1%"), "messages:Q"])
    text = base.mark_text(fontSize=9).encode(
        text="messages:Q", color=alt.condition(alt.datum.rate > 0.5, alt.value("white"), alt.value("#333")))
    return _spec((heat + text).properties(height=24 * len(totals)), "cell")


def misread(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    values = [{"rank": i, "intended": f"{r['intended']} ({r['messages']:,})", "emotion": r["intended"],
               "rate": r["misread_rate"], "low": r["wilson_low"], "high": r["wilson_high"],
               "read_as": r["read_as"] or "", "messages": r["messages"], "series": "read otherwise"}
              for i, r in enumerate(rows)]
    base = alt.Chart(_data(values)).encode(
        y=alt.Y("intended:N", sort=BY_RANK, title="intended emotion (messages)"))
    bars = base.mark_bar().encode(
        x=alt.X("rate:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]),
                title="share read as another emotion (lines: 95% interval)"),
        color=_legend({"read otherwise": "#4c78a8"}),
        tooltip=["emotion:N", alt.Tooltip("rate:Q", format=".1%"), "read_as:N", "messages:Q"])
    whiskers = base.mark_rule(color=INTERVAL).encode(x="low:Q", x2="high:Q")
    return _spec((bars + whiskers).properties(height=22 * len(values)), "intended")


def ranking(rows: list[dict], what: str, overall: float | None) -> dict | None:
    if not rows:
        return None
    # Drawn in the order of the bars' length; the query picked them by their interval's lower end.
    shown = sorted(rows, key=lambda r: (-r["shift_rate"], -r["messages"], r["name"] or ""))
    values = [{"rank": i, "name": r["name"], "label": f"{r['name']} ({r['messages']:,})",
               "rate": r["shift_rate"], "low": r["wilson_low"], "high": r["wilson_high"],
               "messages": r["messages"], "series": "shift rate"} for i, r in enumerate(shown)]
    base = alt.Chart(_data(values)).encode(
        y=alt.Y("label:N", sort=BY_RANK, title=f"{what} (messages)", axis=alt.Axis(labelLimit=180)))
    bars = base.mark_bar().encode(
        x=alt.X("rate:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]),
                title="shift rate (lines: 95% Wilson interval)"),
        color=_legend({"shift rate": SHIFT, "all messages": OVERALL}),
        tooltip=["name:N", alt.Tooltip("rate:Q", format=".1%"), alt.Tooltip("low:Q", format=".1%"),
                 alt.Tooltip("high:Q", format=".1%"), "messages:Q"])
    whiskers = base.mark_rule(color=INTERVAL).encode(x="low:Q", x2="high:Q")
    layers = [bars, whiskers]
    if overall is not None:
        layers.append(alt.Chart(_data([{"rate": overall, "series": "all messages"}], "overall"))
                      .mark_rule(strokeDash=[4, 3]).encode(x="rate:Q", color=_legend({"shift rate": SHIFT,
                                                                                      "all messages": OVERALL})))
    return _spec(alt.layer(*layers).properties(height=22 * len(values)), what)


def over_time(rows: list[dict], grain: str, overall: float | None) -> dict | None:
    rows = [r for r in rows if r["period"] is not None]
    if not rows:
        return None
    values = [{"period": r["period"].strftime("%Y-%m-%d"), "rate": r["shift_rate"], "low": r["wilson_low"],
               "high": r["wilson_high"], "messages": r["messages"], "series": "shift rate"} for r in rows]
    # Ordinal periods: one slot each, labelled once; an empty period keeps its slot and no mark.
    x = alt.X("period:O", title=f"{grain} starting (UTC)", axis=alt.Axis(labelAngle=-40, labelOverlap="greedy"))
    legend = _legend({"shift rate": SHIFT, "95% interval": INTERVAL, "all messages": OVERALL})
    base = alt.Chart(_data(values)).encode(x=x)
    rate = base.mark_line(point=True).encode(
        y=alt.Y("rate:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]), title="shift rate"),
        color=legend, tooltip=["period:N", alt.Tooltip("rate:Q", format=".1%"), alt.Tooltip("low:Q", format=".1%"),
                               alt.Tooltip("high:Q", format=".1%"), "messages:Q"])
    whiskers = base.mark_rule(opacity=0.5, color=INTERVAL).encode(y="low:Q", y2="high:Q")
    layers = [whiskers, rate]
    if overall is not None:
        layers.append(alt.Chart(_data([{"rate": overall, "series": "all messages"}], "overall"))
                      .mark_rule(strokeDash=[4, 3]).encode(y="rate:Q", color=legend))
    top = alt.layer(*layers).properties(width=WIDTH, height=180)
    volume = base.mark_bar(color="#9ecae1").encode(
        y=alt.Y("messages:Q", title="messages"), tooltip=["period:N", "messages:Q"]
    ).properties(width=WIDTH, height=70)
    return _spec(alt.vconcat(top, volume, spacing=6), "period", width=None)


def terms(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    shown = sorted(rows, key=lambda r: (-r["lift"], -r["support"], r["term"]))
    values = [{"rank": i, "term": r["term"], "label": f"{r['term']} ({r['support']:,})", "lift": r["lift"],
               "low": r["lift_low"], "high": r["lift_high"], "support": r["support"], "rate": r["shift_rate"],
               "series": "lift"} for i, r in enumerate(shown)]
    base = alt.Chart(alt.Data(values=values)).encode(
        y=alt.Y("label:N", sort=BY_RANK, title="term (messages containing it)", axis=alt.Axis(labelLimit=180)))
    # Points on a log scale, not bars: a ratio of 1 is "no association", and 2 and 1/2 are as far from it.
    x = alt.X("lift:Q", scale=alt.Scale(type="log"), title="lift: how much likelier in shifted messages "
              "(lines: 95% interval; 1 = no association)")
    points = base.mark_point(filled=True, size=50).encode(
        x=x, color=_legend({"lift": "#2a9d8f"}),
        tooltip=["term:N", alt.Tooltip("lift:Q", format=".2f"), alt.Tooltip("low:Q", format=".2f"),
                 alt.Tooltip("high:Q", format=".2f"), "support:Q", alt.Tooltip("rate:Q", format=".1%")])
    whiskers = base.mark_rule(color=INTERVAL).encode(x="low:Q", x2="high:Q")
    one = alt.Chart(alt.Data(values=[{"one": 1}])).mark_rule(strokeDash=[4, 3], color=OVERALL).encode(x="one:Q")
    return _spec(alt.layer(whiskers, points, one).properties(height=20 * len(values)), "term")


def build(data: dict, min_support: int) -> list[tuple[str, str, dict]]:
    """The charts that have data, in report order."""
    overall = data["summary"]["shift_rate"]
    candidates = [
        ("matrix", "Intended → perceived", matrix(data["shift_matrix"], min_support)),
        ("misread", "Emotions most often read as another", misread(data["misread_emotions"])),
        ("over_time", "Shift rate over time", over_time(data["shift_over_time"], data["grain"], overall)),
        *((f"{dimension}s", RANKING_TITLES[dimension], ranking(rows, dimension, overall))
          for dimension, rows in data["shifting_groups"].items()),
        ("terms", "Words and phrases that come with shifts", terms(data["shift_terms"])),
    ]
    return [(name, title, spec) for name, title, spec in candidates if spec is not None]


def pngs(charts: list[tuple[str, str, dict]], scale: float = 2.0) -> list[tuple[str, str, bytes]]:
    """``(name, title, PNG bytes)`` per chart, drawn offline (scale 2 stays sharp on
    high-density screens)."""
    import vl_convert

    return [(name, title, vl_convert.vegalite_to_png(spec, scale=scale)) for name, title, spec in charts]
