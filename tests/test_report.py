"""The report as a person sees it: report.html opened in headless Chromium (charts drawn, the
hostile corpus inert), report.eml parsed part by part, and the edge cases an analyst meets."""

from __future__ import annotations

import dataclasses
import email.policy
import json
import re
from email import message_from_bytes
from pathlib import Path

import duckdb
import pytest

from echoroom import cli
from echoroom.report.render import MAX_HTML_BYTES, build
from echoroom.report.settings import ReportError, ReportSettings

import report_fixtures as F
from browser import dom_after_scripts, screenshot
from html_dom import parse

TITLE = ReportSettings().title
CHARTS = ("matrix", "misread", "over_time", "conversations", "channels", "senders", "terms")


@pytest.fixture(scope="module")
def scored(tmp_path_factory, lens_root) -> Path:
    return F.scored_db(tmp_path_factory.mktemp("report-db"), lens_root, F.corpus_rows())


@pytest.fixture(scope="module")
def full(tmp_path_factory, scored) -> dict:
    """Everything in scope, every row shown, message text in the email too."""
    out = tmp_path_factory.mktemp("report-full")
    return build(ReportSettings(db=str(scored), out=str(out), min_support=1, top=50, include_text=True,
                                quiet=True))


def eml(path: Path):
    return message_from_bytes(path.read_bytes(), policy=email.policy.default)


def parts(message) -> dict:
    found = {"images": []}
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "image/png":
            found["images"].append(part)
        elif kind in ("text/plain", "text/html"):
            found[kind] = part.get_content()
    return found


def texts_of(node) -> list[str]:
    return [cell.text for cell in node.iter("td")]


# --- report.html in the browser -------------------------------------------------------------

def test_charts_draw_in_headless_chromium(full):
    out = full["html"].parent
    dom = parse(dom_after_scripts(full["html"], out))
    for chart in CHARTS:
        box = dom.by_id(f"chart-{chart}")
        svgs = [s for s in box.iter("svg") if "marks" in s.attrs.get("class", "")]
        assert svgs, f"chart {chart} did not draw"
        # data marks only (not axes or legends), with real geometry: a bar Vega cannot place
        # (say, zero on a log scale) is drawn without a usable path
        groups = [g for g in svgs[0].iter("g") if "role-mark" in g.attrs.get("class", "")
                  and re.search(r"mark-(rect|line|area|symbol)", g.attrs.get("class", ""))]
        drawn = [p for g in groups for p in g.iter("path") if re.search(r"\d", p.attrs.get("d", ""))
                 and "NaN" not in p.attrs.get("d", "")]
        assert drawn, f"chart {chart} drew no data marks"
        assert "could not be drawn" not in box.text
    shot = screenshot(full["html"], out)
    assert shot.stat().st_size > 20_000  # a blank page is a few KB


def test_hostile_corpus_is_inert_text_in_the_browser(full):
    dom = parse(dom_after_scripts(full["html"], full["html"].parent))
    assert [t.text for t in dom.iter("title")] == [TITLE]
    for element in dom.iter():
        assert not any(F.PWNED in name for name in element.attrs), element
    assert not [i for i in dom.iter("img") if i.attrs.get("src") == "x"]
    assert not list(dom.iter("iframe")) and not list(dom.iter("a"))
    scripts = [s for s in dom.iter("script") if "pwned" in s.text and s.attrs.get("type") != "application/json"]
    assert not scripts
    cells = texts_of(dom.by_id("divergent-table"))
    for text in F.HOSTILE:
        assert text in cells, text  # shown, character for character, as text
    assert F.HOSTILE_CONVERSATION in texts_of(dom.by_id("conversations-table"))
    assert F.HOSTILE_SENDER in texts_of(dom.by_id("senders-table"))
    assert F.HOSTILE_CHANNEL in texts_of(dom.by_id("channels-table"))  # not rendered as 49


def test_html_works_offline(full):
    html = full["html"].read_text()
    dom = parse(html)
    assert all("src" not in s.attrs for s in dom.iter("script"))
    assert not list(dom.iter("link"))
    for element in dom.iter():
        for name in ("src", "href", "action"):
            assert not re.match(r"\s*(https?:)?//", element.attrs.get(name) or ""), element
    csp = [m.attrs["content"] for m in dom.iter("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]
    assert "vegaEmbed" in html and len(html) > 500_000  # the libraries themselves are in the file


def test_summary_shows_the_database_figures(full, scored):
    con = duckdb.connect(str(scored), read_only=True)
    n, shifted = con.execute("SELECT count(*), count(*) FILTER (WHERE shifted) FROM message_lenses").fetchone()
    con.close()
    summary = parse(full["html"].read_text()).by_id("summary").text
    assert f"{n:,}" in summary and f"({shifted:,})" in summary
    assert full["messages"] == n


# --- report.eml -------------------------------------------------------------------------------

def test_email_is_multipart_related_with_cid_pngs(full):
    message = eml(full["eml"])
    assert message.get_content_type() == "multipart/related"
    assert message.get_param("type") == "multipart/alternative"
    root = message.get_payload()[0]
    assert root.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in root.get_payload()] == ["text/plain", "text/html"]
    found = parts(message)
    html = found["text/html"]
    assert len(html.encode()) < MAX_HTML_BYTES
    dom = parse(html)
    srcs = [img.attrs["src"] for img in dom.iter("img")]
    cids = {p["Content-ID"].strip("<>") for p in found["images"]}
    assert srcs and all(s.startswith("cid:") for s in srcs)
    assert {s[4:] for s in srcs} == cids
    for image in found["images"]:
        assert image.get_content().startswith(b"\x89PNG\r\n\x1a\n")
        assert image.get_content_disposition() == "inline"
    assert not list(dom.iter("script")) and not list(dom.iter("svg")) and not list(dom.iter("style"))
    assert "data:" not in html and "<svg" not in html.lower()
    styled = [n for n in dom.iter("td") if n.attrs.get("style")]
    assert len(styled) > 20 and list(dom.iter("table"))  # inline styles, table layout


def test_email_hostile_text_is_escaped_and_inert(scored, tmp_path):
    # Only the hostile conversation, so every hostile message fits the email's table whatever the
    # lenses predict (the full report trims the table to stay under the size limit).
    written = build(ReportSettings(db=str(scored), out=str(tmp_path / "out"), min_support=1, top=50,
                                   include_text=True, conversation=F.HOSTILE_CONVERSATION, quiet=True))
    found = parts(eml(written["eml"]))
    dom = parse(found["text/html"])
    cells = texts_of(dom.by_id("divergent-table"))
    for text in F.HOSTILE:
        assert text in cells
        assert text in found["text/plain"]  # plain text needs no escaping and gets none
    page = tmp_path / "email.html"
    page.write_text(found["text/html"])
    after = parse(dom_after_scripts(page, tmp_path))
    assert [t.text for t in after.iter("title")] == [TITLE]
    assert not [i for i in after.iter("img") if not i.attrs.get("src", "").startswith("cid:")]
    assert not list(after.iter("iframe")) and not list(after.iter("script"))
    for element in after.iter():
        assert not any(F.PWNED in name for name in element.attrs)


def test_email_leaves_message_text_out_by_default(scored, tmp_path):
    written = build(ReportSettings(db=str(scored), out=str(tmp_path), min_support=1, top=50, quiet=True))
    found = parts(eml(written["eml"]))
    names = {F.HOSTILE_CONVERSATION, F.HOSTILE_SENDER, F.HOSTILE_CHANNEL}  # metadata, shown on purpose
    texts = [row["text"] for row in F.corpus_rows() if row["text"] not in names]
    html_cells = texts_of(parse(found["text/html"]).by_id("divergent-table"))
    for text in texts:
        assert text not in html_cells and text not in found["text/plain"], text
    assert "Message text is left out" in parse(found["text/html"]).text
    # ...while the interactive report, kept on the analyst's machine, shows it
    local = texts_of(parse(written["html"].read_text()).by_id("divergent-table"))
    assert sum(text in local for text in texts) == len(texts)


# --- the edge cases an analyst meets ------------------------------------------------------------

def assert_sensible_empty_report(written: dict, out: Path):
    assert written["messages"] == 0
    dom = parse(written["html"].read_text())
    assert "No scored messages match" in dom.by_id("no-messages").text
    found = parts(eml(written["eml"]))
    assert found["images"] == [] and "No scored messages match" in found["text/plain"]
    assert "No scored messages match" in parse(found["text/html"]).by_id("no-messages").text
    browsed = parse(dom_after_scripts(written["html"], out))
    assert [t.text for t in browsed.iter("title")] == [TITLE]


def test_empty_database(tmp_path):
    db = F.empty_db(tmp_path / "db")
    written = build(ReportSettings(db=str(db), out=str(tmp_path / "out"), quiet=True))
    assert_sensible_empty_report(written, tmp_path)
    assert "No scoring run is recorded" in parse(written["html"].read_text()).by_id("runs-table").text


def test_filter_matching_nothing(scored, tmp_path):
    written = build(ReportSettings(db=str(scored), out=str(tmp_path), conversation="no-such-conversation",
                                   quiet=True))
    assert_sensible_empty_report(written, tmp_path)
    assert "no-such-conversation" in parse(written["html"].read_text()).text


def test_one_message(tmp_path, lens_root):
    db = F.scored_db(tmp_path / "db", lens_root, F.corpus_rows(hostile=False)[:1])
    written = build(ReportSettings(db=str(db), out=str(tmp_path / "out"), quiet=True))
    assert written["messages"] == 1
    dom = parse(dom_after_scripts(written["html"], tmp_path))
    assert [s for s in dom.by_id("chart-matrix").iter("svg") if "marks" in s.attrs.get("class", "")]
    # one conversation, channel and sender: nothing to rank, and a sentence says so in place
    assert "All messages are in one conversation" in dom.by_id("conversations-absent").text
    assert len(parts(eml(written["eml"]))["images"]) >= 2


def test_the_summary_says_how_many_messages_were_left_out_and_in_which_languages(full, tmp_path, lens_root):
    db = F.scored_db(tmp_path / "db", lens_root, F.corpus_rows(hostile=False)[:6] + F.foreign_rows())
    written = build(ReportSettings(db=str(db), out=str(tmp_path / "out"), quiet=True))
    said = "3 messages not scored, in languages the lenses do not read: 2 de, 1 es"
    assert written["messages"] == 6 and written["left_out"] == said
    assert parse(written["html"].read_text()).by_id("left-out").text.strip() == said + "."
    found = parts(eml(written["eml"]))
    assert parse(found["text/html"]).by_id("left-out").text.strip() == said + "."
    assert said + "." in found["text/plain"].splitlines()
    only_slack = build(ReportSettings(db=str(db), out=str(tmp_path / "slack"), channel="slack", quiet=True))
    assert only_slack["left_out"] == "1 message not scored, in languages the lenses do not read: 1 es"
    # Nothing left out, nothing said.
    assert full["left_out"] is None and parse(full["html"].read_text()).find(id="left-out") == []


def test_previous_period_comparison(scored, tmp_path):
    written = build(ReportSettings(db=str(scored), out=str(tmp_path), start="2025-03-10", end="2025-03-17",
                                   quiet=True))
    assert "in the period before" in parse(written["html"].read_text()).by_id("trend").text


@pytest.mark.parametrize("settings, message", [
    (dict(start="last monday"), "expected an ISO date"),
    (dict(start="2025-03-10", end="2025-03-01"), "is not before"),
    (dict(grain="month"), "expected one of auto, day, week"),
    (dict(min_support=0), "expected 1 or more"),
    (dict(days=7, start="2025-03-01"), "--days and --start both given"),
])
def test_bad_settings_say_what_to_change(settings, message):
    with pytest.raises(ReportError, match=message):
        ReportSettings(**settings)


def test_missing_or_foreign_database(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build(ReportSettings(db=str(tmp_path / "nope.duckdb"), out=str(tmp_path), quiet=True))
    foreign = tmp_path / "foreign.duckdb"
    duckdb.connect(str(foreign)).close()
    with pytest.raises(ReportError, match="is it an Echo Room database"):
        build(ReportSettings(db=str(foreign), out=str(tmp_path), quiet=True))


def test_database_being_written_by_another_process(scored, tmp_path):
    import shutil
    import subprocess
    import sys

    db = tmp_path / "busy.duckdb"
    shutil.copy(scored, db)
    writer = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); time.sleep(60)", str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "open"
        with pytest.raises(ReportError, match="make the report when the run has finished"):
            build(ReportSettings(db=str(db), out=str(tmp_path / "out"), quiet=True))
    finally:
        writer.kill()
        writer.wait()


def test_cli_report_writes_both_outputs_and_reports_errors(scored, tmp_path, capsys):
    assert cli.main(["report", "--db", str(scored), "--out", str(tmp_path), "--days", "7",
                     "--end", "2025-03-17"]) == 0
    assert (tmp_path / "report.html").is_file() and (tmp_path / "report.eml").is_file()
    assert '"days": 7' in (tmp_path / "settings.json").read_text()
    assert cli.main(["report", "--db", str(tmp_path / "missing.duckdb"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_job_takes_key_value_overrides(scored, tmp_path, capsys):
    from jobs import report as job

    assert job.main([f"--db={scored}", f"--out={tmp_path}", "--days=7", "--end=2025-03-17",
                     "--include_text=true", "--min_support=2"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"include_text +=  ?True", printed) and re.search(r"days +=  ?7\b", printed)
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["days"] == 7 and saved["include_text"] is True and saved["min_support"] == 2
    assert job.main(["--colour=blue"]) == 2
    assert "unknown setting --colour" in capsys.readouterr().err
    assert job.main(["--top=500"]) == 2
    assert "expected 1 to 100" in capsys.readouterr().err


def test_settings_are_all_documented():
    docs = (Path(__file__).resolve().parent.parent / "docs" / "reports.md").read_text()
    for field in dataclasses.fields(ReportSettings):
        assert f"`{field.name}`" in docs, f"docs/reports.md does not document the {field.name} setting"


def test_email_body_stays_under_the_clipping_size(tmp_path, lens_root):
    rows = F.corpus_rows(hostile=False)
    long = [dict(r, message_id=f"long-{i:03d}", text=(r["text"] + " ") * 40)
            for i, r in enumerate(rows * 3)]  # 72 messages of ~1.5 KB each: over 100 KB in a table
    db = F.scored_db(tmp_path / "db", lens_root, long)
    written = build(ReportSettings(db=str(db), out=str(tmp_path / "out"), min_support=1, top=100,
                                   include_text=True, quiet=True))
    html = parts(eml(written["eml"]))["text/html"]
    assert len(html.encode()) < MAX_HTML_BYTES
    note = [p.text for p in parse(html).iter("p") if "left out to keep this email" in p.text]
    shown = len(list(parse(html).by_id("divergent-table").iter("tr"))) - 1
    assert note and note[0].startswith(f"{72 - shown} more messages")
    assert len(list(parse(written["html"].read_text()).by_id("divergent-table").iter("tr"))) == 73


BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def bidi_count(text: str) -> int:
    return sum(text.count(c) + text.lower().count(f"\\u{ord(c):04x}") for c in BIDI)  # raw or JSON-escaped


def test_bidi_controls_show_as_markers_in_the_report_and_the_email(tmp_path, lens_root):
    """A right-to-left override in a name or a message would reorder what follows on screen: every
    bidi control shows as [U+XXXX] instead, in report.html (tables and charts) and both email parts."""
    from echoroom.report.render import vega_javascript

    rows = F.corpus_rows(hostile=False)[:6]
    for i, row in enumerate(rows):
        # two channels, so the channel ranking is drawn (one channel has nothing to rank)
        row.update(conversation_id="team\u202egpj.exe", sender="ana\u2066nimda\u2069",
                   channel="slack\u200f" if i % 2 else "discord")
        if i < 3:
            row["text"] = f"{row['text']} \u202eSeriously\u202c \u2067ok\u2069 \u061c\u200e\u202a\u202b\u202d\u2068"
    db = F.scored_db(tmp_path / "db", lens_root, rows)
    written = build(ReportSettings(db=str(db), out=str(tmp_path / "out"), min_support=1, top=50,
                                   include_text=True, title="Shifts \u202eevil", quiet=True))
    html = written["html"].read_text()
    found = parts(eml(written["eml"]))
    assert bidi_count(html) == bidi_count(vega_javascript())  # only the inlined library's own, if any
    assert bidi_count(found["text/html"]) == 0 and bidi_count(found["text/plain"]) == 0
    assert bidi_count(eml(written["eml"])["Subject"]) == 0
    for c in BIDI:
        marker = f"[U+{ord(c):04X}]"
        assert marker in found["text/plain"] and marker in parse(found["text/html"]).text, marker
    cells = texts_of(parse(html).by_id("divergent-table"))
    assert "team[U+202E]gpj.exe" in cells and "ana[U+2066]nimda[U+2069]" in cells
    assert any(cell.endswith("[U+202E]Seriously[U+202C] [U+2067]ok[U+2069] [U+061C][U+200E][U+202A][U+202B]"
                             "[U+202D][U+2068]") for cell in cells)
    assert "Shifts [U+202E]evil" in [t.text for t in parse(html).iter("title")]
