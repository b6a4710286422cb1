"""The drill-down in headless Chromium: a selection opened the way a click opens it shows exactly
the messages SQL finds for it, hostile text stays inert text, and the page fits a phone."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from echoroom.report.render import build
from echoroom.report.settings import ReportSettings

import report_fixtures as F
from browser import FLAGS, chromium, dom_after_scripts
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
    url = page.resolve().as_uri() + "#drill=" + "/".join(quote(s, safe="") for s in selection)
    args = [chromium(), *FLAGS, f"--user-data-dir={out / 'profile'}", "--dump-dom", url]
    if size:
        args.insert(-2, f"--window-size={size}")
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    dom = parse(result.stdout)
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
    result = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'p'}", "--window-size=420,900",
                             "--dump-dom", page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    body = parse(result.stdout).find("body")[0]
    assert int(body.attrs["data-width"]) <= 500 and body.attrs["data-sticking"] == ""
    assert [s for s in parse(result.stdout).by_id("chart-matrix").iter("svg")]  # drawn when measured


def test_the_embedded_sample_is_bounded(tmp_path, scored):
    from echoroom.report import data as D

    assert D.DRILL_PER_GROUP * 5 <= D.DRILL_MAX_MESSAGES  # every kind of group can get its share
    written = build(ReportSettings(db=str(scored), out=str(tmp_path), min_support=1, quiet=True))
    dom = parse(dom_after_scripts(written["html"], tmp_path))
    assert dom.by_id("drill").attrs.get("hidden") is not None  # closed until something is clicked
