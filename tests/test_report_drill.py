"""The drill-down in headless Chromium: a selection opened the way a click opens it shows exactly
the messages SQL finds for it, hostile text stays inert text, and the page fits a phone."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

from echoroom.report.render import build
from echoroom.report.settings import ReportSettings

import report_fixtures as F
from browser import dom_after_scripts, dump_dom, filtered
from helpers import rows
from html_dom import parse


@pytest.fixture(scope="module")
def scored(tmp_path_factory, lens_root) -> Path:
    return F.scored_db(tmp_path_factory.mktemp("drill-db"), lens_root, F.corpus_rows())


@pytest.fixture(scope="module")
def report(tmp_path_factory, scored) -> Path:
    out = tmp_path_factory.mktemp("drill-report")
    return build(ReportSettings(db=str(scored), out=str(out), min_support=1, top=50, quiet=True))["html"]


def drilled(page: Path, out: Path, *selection: str, size: str | None = None) -> tuple:
    """The DOM after opening ``page#drill=...`` (which clicks the matching button), with the drill
    table's rows as (message id, cells)."""
    dom = parse(dump_dom(page, out / "profile", "drill=" + "/".join(quote(s, safe="") for s in selection), size))
    assert dom.find("body")[0].attrs.get("data-drilled") == "1"
    body = dom.by_id("drill-table").find("tbody")[0]
    shown = [(tr.attrs["data-id"], [td.text for td in tr.iter("td")]) for tr in body.iter("tr")]
    return dom, shown


def test_a_matrix_cell_shows_exactly_its_messages(report, scored, tmp_path):
    # the most populated cell off the diagonal, and one on it
    cells = rows(scored, "SELECT author_emotion, reader_emotion FROM message_lenses GROUP BY 1, 2 "
                         "ORDER BY (author_emotion = reader_emotion), count(*) DESC, 1, 2")
    for author, reader in (cells[0], cells[-1]):
        expected = {r[0] for r in rows(scored, "SELECT message_id FROM message_lenses WHERE author_emotion = ? "
                                               "AND reader_emotion = ?", [author, reader])}
        dom, shown = drilled(report, tmp_path, "cell", author, reader)
        assert {i for i, _ in shown} == expected and len(shown) == len(expected)
        assert dom.by_id("drill-title").text == f"{author} read as {reader}"
        assert dom.by_id("drill-note").text.startswith(f"{len(expected)} of {len(expected)} messages shown")
        assert not dom.by_id("drill").attrs.get("hidden")
        # both readings and the shift, per row
        assert all(cells_[4].startswith(author) and cells_[5].startswith(reader) for _, cells_ in shown)


def test_a_sender_shows_their_messages_and_hostile_text_stays_text(report, scored, tmp_path):
    dom, shown = drilled(report, tmp_path, "sender", F.HOSTILE_SENDER)
    expected = {r[0] for r in rows(scored, "SELECT message_id FROM message_lenses WHERE sender = ?",
                                   [F.HOSTILE_SENDER])}
    assert {i for i, _ in shown} == expected
    assert sorted(cells[3] for _, cells in shown) == sorted(F.HOSTILE)  # character for character
    assert [t.text for t in dom.iter("title")] == [ReportSettings().title]
    for element in dom.iter():
        assert not any(F.PWNED in name for name in element.attrs), element
    assert not [i for i in dom.iter("img") if i.attrs.get("src") == "x"]
    assert not list(dom.iter("iframe")) and not list(dom.iter("a"))


def test_a_term_and_a_day_open_their_messages(report, scored, tmp_path):
    _, shown = drilled(report, tmp_path, "period", "2025-03-05")
    expected = {r[0] for r in rows(scored, "SELECT message_id FROM message_lenses WHERE "
                                           "timezone('UTC', sent_at)::DATE = DATE '2025-03-05'")}
    assert expected and {i for i, _ in shown} == expected
    _, shown = drilled(report, tmp_path, "term", "fine")
    expected = {r[0] for r in rows(scored, "SELECT message_id FROM message_lenses WHERE "
                                           "regexp_matches(lower(text), '(^|[^a-z''])fine([^a-z'']|$)')")}
    assert expected and {i for i, _ in shown} == expected


def test_the_page_fits_a_phone(report, tmp_path):
    """At phone width nothing sticks out past the screen's edge: wide tables scroll in their own
    box, charts scale down. Measured in the page by a script added to a copy of it, once the charts
    are drawn. Headless Chromium will not make a window narrower than 500 px, so that is the width
    tested; the layout has no fixed width above 320 px."""
    page = tmp_path / "phone.html"
    probe = ("<script>var probe = setInterval(function () { if (!document.body.dataset.drawn) return;"
             "clearInterval(probe); var out = [];"
             "document.querySelectorAll('main *').forEach(function (e) {"
             " if (e.parentElement.closest('.scroll')) return;"
             " if (e.getBoundingClientRect().right > innerWidth) out.push(e.tagName + '#' + e.id); });"
             "document.body.dataset.sticking = out.join(' '); document.body.dataset.width = innerWidth;"
             "}, 100);</script>")
    html = report.read_text()
    end = html.rindex("</body>")  # the last one: the inlined Vega bundle holds the string too
    page.write_text(html[:end] + probe + html[end:])
    dom = parse(dump_dom(page, tmp_path / "p", size="420,900"))
    body = dom.find("body")[0]
    assert int(body.attrs["data-width"]) <= 500 and body.attrs["data-sticking"] == ""
    assert [s for s in dom.by_id("chart-matrix").iter("svg")]  # drawn when measured


def test_the_embedded_sample_is_bounded(tmp_path, scored):
    from echoroom.report import data as D

    assert D.DRILL_PER_GROUP * 5 <= D.DRILL_MAX_MESSAGES  # every kind of group can get its share
    written = build(ReportSettings(db=str(scored), out=str(tmp_path), min_support=1, quiet=True))
    dom = parse(dom_after_scripts(written["html"], tmp_path))
    assert dom.by_id("drill").attrs.get("hidden") is not None  # closed until something is clicked


def test_choosing_a_sender_recounts_the_headline_and_the_matrix(report, scored, tmp_path):
    sender = "ana"
    n, shifted, divergence, conversations = rows(
        scored, "SELECT count(*), count(*) FILTER (WHERE shifted), avg(js_divergence), "
                "count(DISTINCT conversation_id) FROM message_lenses WHERE sender = ?", [sender])[0]
    everyone = rows(scored, "SELECT count(*) FROM message_lenses")[0][0]
    assert 0 < n < everyone
    cells = {(a, r): k for a, r, k in rows(scored, "SELECT author_emotion, reader_emotion, count(*) FROM "
                                                   "message_lenses WHERE sender = ? GROUP BY 1, 2", [sender])}
    totals = {a: k for a, k in rows(scored, "SELECT author_emotion, count(*) FROM message_lenses "
                                            "WHERE sender = ? GROUP BY 1", [sender])}

    dom = filtered(report, tmp_path, sender=sender)
    assert dom.find("body")[0].attrs.get("data-filtered") == "1"
    figure = {k: dom.by_id(f"figure-{k}").text for k in ("messages", "shifted", "rate", "divergence",
                                                         "conversations", "senders")}
    assert figure == {"messages": f"{n:,}", "shifted": f"{shifted:,}", "rate": f"{100 * shifted / n:.1f}%",
                      "divergence": f"{divergence:.2f}", "conversations": f"{conversations:,}", "senders": "1"}
    assert dom.by_id("filter-note").text.startswith(f"Showing {n:,} of {everyone:,} messages.")

    # every matrix cell: the sender's count and share of the row, or hidden where they have none
    buttons = [b for b in dom.iter("button") if b.attrs.get("data-drill") == "cell"]
    assert buttons and any("hidden" in b.attrs for b in buttons)
    for b in buttons:
        key = (b.attrs["data-author"], b.attrs["data-reader"])
        if key not in cells:
            assert "hidden" in b.attrs, key
            continue
        share = f"{100 * cells[key] / totals[key[0]]:.1f}%"
        assert "hidden" not in b.attrs and b.find("span")[0].text == f"{cells[key]:,}", key
        assert b.text.startswith(share), (key, b.text)
    for tr in dom.by_id("matrix-table").find("tbody")[0].iter("tr"):
        total = [td for td in tr.iter("td") if "row-total" in td.attrs.get("class", "")][0].text
        assert total == f"{totals.get(tr.attrs['data-author'], 0):,}"


def test_the_filters_table_is_embedded_per_day(report):
    from echoroom.report import data as D

    html = report.read_text()
    start = html.index('<script type="application/json" id="filter-data">')
    table = json.loads(html[html.index(">", start) + 1:html.index("</script>", start)])
    assert table["grain"] == "day" and table["keep"] is None and 0 < len(table["rows"]) <= D.FILTER_MAX_ROWS
    assert {"c", "ch", "s", "p", "a", "r", "k", "n", "x", "d", "sc", "g", "sa"} <= set(table["columns"])
    assert all(len(r) == len(table["columns"]) for r in table["rows"])


def test_the_filters_table_steps_down_to_fit_its_cap(tmp_path, lens_root):
    """Per day when it fits, else per week, else per month, else without time; past the cap even
    then (and with only the busiest names kept), nothing (the page then says its filters narrow
    the drill-down only). Every grain counts every message. One sender, conversation, channel and
    text on six days of two weeks of one month: 6, 2, 1 and 1 groups."""
    import datetime as dt

    from echoroom.report import data as D
    from echoroom.report.filters import embedded

    corpus = [{"message_id": f"m{i}", "conversation_id": "team", "sender": "ana", "channel": "slack",
               "sent_at": F.START + dt.timedelta(days=day, hours=i % 3), "text": "Fine. Do whatever you want."}
              for i, day in enumerate([0, 1, 2, 7, 8, 9] * 3)]
    db = F.scored_db(tmp_path / "db", lens_root, corpus)
    settings = ReportSettings(db=str(db), quiet=True)
    con = D.open_scope(settings)
    try:
        params = settings.filters()
        summary = D.run_query(con, "shift_summary", params)[0]
        size = {g: len(D.run_query(con, "filter_groups", params | {"grain": g, "max_rows": None, "limit": None}))
                for g in D.FILTER_GRAINS}
        picked = [D.filter_groups(con, params, len(corpus), max_rows=cap) for cap in (6, 5, 2, 1, 0)]
    finally:
        con.close()
    assert size == {"day": 6, "week": 2, "month": 1, "none": 1}
    assert [p["grain"] for p in picked] == ["day", "week", "week", "month", None]
    for table in picked[:-1]:
        assert sum(r["messages"] for r in table["rows"]) == len(corpus) and table["keep"] is None
    assert picked[-1]["rows"] == []
    assert embedded({"filter_groups": picked[-1], "summary": summary, "grain": "day"}, 5, 10)["grain"] is None
