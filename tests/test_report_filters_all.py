"""The global filters recount every section computed from messages, in headless Chromium: choosing
a sender or a date range gives, in the kinds table, the emotions read as another, the three
rankings (with their charts) and the time chart, exactly what the report's SQL over those messages
gives; the sections that cannot follow say so; hostile names stay inert text; and a table too large
for the page keeps only the busiest names, counting the others together."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from echoroom.report import data as D
from echoroom.report import filters, kinds
from echoroom.report.render import build
from echoroom.report.settings import ReportSettings
from echoroom.report.view import context

import report_fixtures as F
from browser import dump_dom, filtered
from helpers import rows
from html_dom import parse

TABLES = {"kinds": "kinds", "misread-table": "misread", "over-time-table": "over_time"}
RANKINGS = ("conversations", "channels", "senders")


@pytest.fixture(scope="module")
def scored(tmp_path_factory, lens_root) -> Path:
    return F.scored_db(tmp_path_factory.mktemp("filters-db"), lens_root, F.corpus_rows())


@pytest.fixture(scope="module")
def report(tmp_path_factory, scored) -> Path:
    out = tmp_path_factory.mktemp("filters-report")
    return build(ReportSettings(db=str(scored), out=str(out), min_support=1, top=50, quiet=True))["html"]


def table(dom, ident: str) -> list[list[str]]:
    return [[td.text for td in tr.iter("td")] for tr in dom.by_id(ident).find("tbody")[0].iter("tr")]


def sql_report(db: Path, **scope) -> dict:
    """What the report's queries give for ``scope`` made on the server, as the page shows it."""
    settings = ReportSettings(db=str(db), min_support=1, top=50, quiet=True, **scope)
    con = D.open_scope(settings)
    try:
        data = D.gather(con, settings)
    finally:
        con.close()
    return context(data, settings, None, include_text=True)


def expected_rows(values: dict, section: str) -> list[list[str]]:
    if section == "kinds":
        return [[k["kind"], k["messages"], k["share"], k["shifted"], k["rate"], k["score"], k["gap"], k["sarcasm"]]
                for k in values["kinds"]]
    if section == "misread":
        return [[r["intended"], r["messages"], r["rate"], r["interval"], r["read_as"], r["read_as_rate"]]
                for r in values["misread"]]
    return [[r["period"], r["messages"], r["shifted"], r["rate"], r["interval"]] for r in values["over_time"]]


def ranking_rows(values: dict, key: str) -> list[list[str]] | None:
    ranking = next(r for r in values["rankings"] if r["key"] == key)
    if ranking["absent"]:
        return None
    return [[r["name"], r["messages"], r["shifted"], r["rate"], r["interval"], r["divergence"]]
            for r in ranking["rows"]]


def chart_labels(dom, chart: str) -> list[str]:
    """The y-axis labels a ranking chart drew, top to bottom: "name (messages)", the x axis's
    percentages left out."""
    return [t.text for g in dom.by_id(f"chart-{chart}").iter("g") if "role-axis-label" in g.attrs.get("class", "")
            for t in g.iter("text") if not re.fullmatch(r"\d+%", t.text)]


def same_labels(drawn: list[str], expected: list[str]) -> bool:
    """Vega cuts a label past the axis's labelLimit and ends it with an ellipsis."""
    return len(drawn) == len(expected) and all(
        d == e or (d.endswith("…") and e.startswith(d[:-1])) for d, e in zip(drawn, expected))


def assert_sections_match(dom, values: dict):
    for ident, section in TABLES.items():
        assert table(dom, ident) == expected_rows(values, section), ident
    for key in RANKINGS:
        expected = ranking_rows(values, key)
        if expected is None:  # the server leaves out a ranking of one group; the page shows that one
            continue
        shown = table(dom, f"{key}-table")
        assert shown == expected, key
        assert same_labels(chart_labels(dom, key), [f"{r[0]} ({r[1]})" for r in expected]), key
        assert dom.by_id(f"{key}-shown").text == str(len(expected))


def test_choosing_a_sender_recounts_every_section_as_sql_does(report, scored, tmp_path):
    sender = "ana"
    dom = filtered(report, tmp_path, sender=sender)
    assert_sections_match(dom, sql_report(scored, sender=sender))

    # the counts, straight from the messages
    by_kind = {kinds.KINDS[k]: (n, x) for k, n, x in rows(
        scored, "SELECT shift_kind, count(*), count(*) FILTER (WHERE shifted) FROM message_lenses "
                "WHERE sender = ? GROUP BY 1", [sender])}
    assert {r[0]: (int(r[1]), int(r[3])) for r in table(dom, "kinds")} == by_kind
    by_day = rows(scored, "SELECT strftime(date_trunc('day', timezone('UTC', sent_at)), '%Y-%m-%d'), count(*), "
                          "count(*) FILTER (WHERE shifted) FROM message_lenses WHERE sender = ? GROUP BY 1", [sender])
    shown = {r[0]: (int(r[1]), int(r[2])) for r in table(dom, "over-time-table")}
    assert {d: nx for d, nx in shown.items() if nx[0]} == {d: (n, x) for d, n, x in by_day}
    # the time chart draws one volume bar per period, empty ones included
    bars = [p for g in dom.by_id("chart-over_time").iter("g") if "mark-rect" in g.attrs.get("class", "")
            for p in g.iter("path")]
    assert len(bars) == len(shown)

    # what cannot follow the filters says so; the change from the period before is hidden
    for ident in ("findings-whole", "terms-whole", "divergent-whole"):
        assert "hidden" not in dom.by_id(ident).attrs and "whole" in dom.by_id(ident).text
    assert dom.by_id("summary-meta").text.startswith("Whole report: ")


def test_a_date_range_recounts_every_section_as_sql_does(report, scored, tmp_path):
    dom = filtered(report, tmp_path, **{"from": "2025-03-05", "to": "2025-03-12"})
    # dates are whole UTC days, "to" included: the server's [start, end) is one day longer
    values = sql_report(scored, start="2025-03-05", end="2025-03-13")
    assert_sections_match(dom, values)
    assert dom.by_id("figure-messages").text == values["summary"]["messages"]
    periods = [r[0] for r in table(dom, "over-time-table")]
    assert periods[0] >= "2025-03-05" and periods[-1] <= "2025-03-12"


def test_a_sender_and_a_conversation_together(report, scored, tmp_path):
    dom = filtered(report, tmp_path, conversation="team", sender="ben")
    assert_sections_match(dom, sql_report(scored, conversation="team", sender="ben"))


def test_hostile_names_stay_text_when_the_page_redraws_them(report, tmp_path):
    dom = filtered(report, tmp_path, conversation=F.HOSTILE_CONVERSATION)
    assert table(dom, "senders-table")[0][0] == F.HOSTILE_SENDER  # character for character
    assert table(dom, "channels-table")[0][0] == F.HOSTILE_CHANNEL
    assert table(dom, "conversations-table")[0][0] == F.HOSTILE_CONVERSATION
    assert same_labels(chart_labels(dom, "senders"), [f"{F.HOSTILE_SENDER} ({len(F.HOSTILE)})"])
    assert [t.text for t in dom.iter("title")] == [ReportSettings().title]
    for element in dom.iter():
        assert not any(F.PWNED in name for name in element.attrs), element
    assert not [i for i in dom.iter("img") if i.attrs.get("src") == "x"]
    assert not list(dom.iter("iframe")) and not list(dom.iter("a"))


def test_clearing_the_filters_puts_the_whole_report_back(report, tmp_path):
    """Measured in the page by a script added to a copy of it: the sections' text before a filter,
    with it, and after "clear", the charts redrawn."""
    page = tmp_path / "clear.html"
    probe = """<script>
    var ids = ["summary", "kinds", "matrix-table", "misread-table", "conversations-table", "channels-table",
               "senders-table", "over-time-table", "chart-senders", "chart-misread", "findings-whole"];
    function snap() { return ids.map(function (id) { var e = document.getElementById(id);
      return e ? e.textContent + (e.hidden ? "[hidden]" : "") : ""; }).join("|"); }
    var probe = setInterval(function () {
      if (!document.body.dataset.drawn) return;
      clearInterval(probe);
      var before = snap(), sender = document.getElementById("filter-sender");
      sender.value = "ana"; sender.dispatchEvent(new Event("change"));
      setTimeout(function () {
        var during = snap();
        document.getElementById("filter-clear").click();
        setTimeout(function () {
          document.body.dataset.changed = String(during !== before);
          document.body.dataset.restored = String(snap() === before);
        }, 2000);
      }, 2000);
    }, 100);
    </script>"""
    html = report.read_text()
    end = html.rindex("</body>")
    page.write_text(html[:end] + probe + html[end:])
    body = parse(dump_dom(page, tmp_path / "p")).find("body")[0]
    assert body.attrs.get("data-changed") == "true" and body.attrs.get("data-restored") == "true", body.attrs


def test_a_table_too_large_keeps_the_busiest_names(tmp_path, lens_root):
    """Past the cap at every grain, the table keeps the busiest names of each dimension and counts
    the others together (-2 in the page): every message is still counted once, and the kept names
    are the busiest, ties broken by name."""
    # 12 conversations and 25 senders, the first five senders busier: more names than the 10 kept
    corpus = [{"message_id": f"m{i}", "conversation_id": f"c{i % 12:02d}",
               "sender": f"s{i % 25 if i < 100 else i % 5:02d}", "channel": "slack" if i % 4 else "discord",
               "sent_at": F.START + dt.timedelta(hours=5 * i), "text": F.ORDINARY[i % len(F.ORDINARY)]}
              for i in range(120)]
    db = F.scored_db(tmp_path / "db", lens_root, corpus)
    settings = ReportSettings(db=str(db), quiet=True)
    con = D.open_scope(settings)
    try:
        params = settings.filters()
        summary = D.run_query(con, "shift_summary", params)[0]
        ways = D.run_query(con, "filter_sizes", params)
        unlumped = min(w["groups"] for w in ways if w["keep"] is None)
        cap = min(w["groups"] for w in ways if w["keep"] == 10) + 2
        assert cap < unlumped  # only keeping fewer names fits
        table_ = D.filter_groups(con, params, summary["messages"], max_rows=cap)
    finally:
        con.close()
    assert table_["keep"] == 10 and table_["grain"] in D.FILTER_GRAINS and 0 < len(table_["rows"]) <= cap
    assert sum(r["messages"] for r in table_["rows"]) == len(corpus)
    busiest = [name for name, _ in rows(db, "SELECT sender, count(*) FROM message_lenses GROUP BY 1 "
                                            "ORDER BY 2 DESC, 1 LIMIT 10")]
    assert {r["sender"] for r in table_["rows"] if not r["other_sender"]} == set(busiest)
    page = filters.embedded({"filter_groups": table_, "summary": summary, "grain": "day"}, 1, 10)
    assert page["keep"] == 10 and page["all"]["s"] == 25 and len(page["names"]["s"]) == 10
    others = [r for r in page["rows"] if r[page["columns"].index("s")] == -2]
    assert len(others) == sum(1 for r in table_["rows"] if r["other_sender"])
    assert json.dumps(page)  # plain JSON for the page
