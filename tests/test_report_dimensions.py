"""Reports on corpora that lack a dimension: no send times, no senders, no conversations, none of
them, or channels that only repeat the conversations. Each section that cannot be drawn is
replaced by a sentence, in report.html and in both parts of the email; the rest still draws."""

from __future__ import annotations

import email.policy
from email import message_from_bytes
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from echoroom.report.render import build
from echoroom.report.settings import ReportSettings
from jobs import score as score_job

import report_fixtures as F
from browser import dom_after_scripts
from html_dom import parse

ALL = ("message_id", "conversation_id", "sender", "sent_at", "channel", "text")


def scored_with(folder: Path, lens_root: Path, columns: tuple[str, ...], rows: list[dict] | None = None) -> Path:
    """The fixture corpus with only ``columns``, scored by the real job: a plain Parquet file."""
    rows = rows or F.corpus_rows(hostile=False)
    arrays = {c: pa.array([r[c] for r in rows], pa.timestamp("us", tz="UTC") if c == "sent_at" else pa.string())
              for c in columns}
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(arrays), folder / "corpus.parquet")
    db = folder / "echoroom.duckdb"
    score_job.main([f"--inputs={folder / 'corpus.parquet'}", f"--db={db}", f"--lenses={lens_root}",
                    "--progress=false", f"--work_dir={folder / 'work'}"])
    return db


def email_parts(path: Path) -> tuple[str, str, str]:
    message = message_from_bytes(path.read_bytes(), policy=email.policy.default)
    found = {p.get_content_type(): p.get_content() for p in message.walk()
             if p.get_content_type() in ("text/plain", "text/html")}
    return message["Subject"], found["text/plain"], found["text/html"]


ABSENT = {  # the column left out -> the element and the sentence that stand in for its section
    "sent_at": [("over-time-absent", "have no send times, so there is no chart over time")],
    "sender": [("senders-absent", "The messages have no sender, so there is no sender ranking")],
    "conversation_id": [("conversations-absent", "The messages have no conversation, so there is no conversation")],
}


@pytest.mark.parametrize("missing", [("sent_at",), ("sender",), ("conversation_id",),
                                     ("sent_at", "sender", "conversation_id", "channel")])
def test_a_missing_dimension_gives_a_sentence_instead_of_its_section(tmp_path, lens_root, missing):
    db = scored_with(tmp_path / "db", lens_root, tuple(c for c in ALL if c not in missing))
    written = build(ReportSettings(db=str(db), out=str(tmp_path / "out"), min_support=2, quiet=True))
    assert written["messages"] == len(F.ORDINARY)
    dom = parse(written["html"].read_text())
    subject, text, html = email_parts(written["eml"])
    for column in missing:
        for ident, sentence in ABSENT.get(column, []):
            assert sentence in dom.by_id(ident).text
            assert sentence in parse(html).by_id(ident).text and sentence in text
    if "sent_at" in missing:
        assert dom.find(id="chart-over_time") == []
        assert subject.endswith(": all messages (they have no send times)")
    else:
        assert dom.find(id="over-time-absent") == []
        assert subject.endswith(": 2025-03-03 09:00 to 2025-03-19 16:00 (UTC)")  # first to last message
    # What can be drawn still is: the matrix always, and findings written from the data.
    assert "of the 24 messages" in dom.by_id("findings-list").text
    assert dom.by_id("matrix-table").find("button")


def test_a_corpus_of_ids_and_texts_draws_in_the_browser(tmp_path, lens_root):
    db = scored_with(tmp_path / "db", lens_root, ("message_id", "text"))
    written = build(ReportSettings(db=str(db), out=str(tmp_path / "out"), min_support=1, quiet=True))
    dom = parse(dom_after_scripts(written["html"], tmp_path))
    for section in ("conversations", "channels", "senders"):
        assert dom.by_id(f"{section}-absent").text.startswith("The messages have no ")
    assert [s for s in dom.by_id("chart-matrix").iter("svg") if "marks" in s.attrs.get("class", "")]
    boxes = [n for n in dom.iter("div") if "chart" in n.attrs.get("class", "").split()]
    assert boxes and not [b for b in boxes if "could not be drawn" in b.text]


def test_channels_that_repeat_conversations_are_not_ranked_twice(tmp_path, lens_root):
    rows = [dict(r, channel=r["conversation_id"]) for r in F.corpus_rows(hostile=False)]  # as WhatsApp
    db = scored_with(tmp_path / "db", lens_root, ALL, rows)
    written = build(ReportSettings(db=str(db), out=str(tmp_path / "out"), min_support=2, quiet=True))
    dom = parse(written["html"].read_text())
    assert "would repeat the conversation ranking" in dom.by_id("channels-absent").text
    assert dom.find(id="channels-table") == [] and dom.by_id("conversations-table")


def test_untimed_messages_are_left_out_of_the_time_chart_and_said_to_be(tmp_path, lens_root):
    rows = F.corpus_rows(hostile=False)
    for row in rows[:5]:
        row["sent_at"] = None
    db = scored_with(tmp_path / "db", lens_root, ALL, rows)
    written = build(ReportSettings(db=str(db), out=str(tmp_path / "out"), min_support=2, quiet=True))
    dom = parse(written["html"].read_text())
    said = "5 of the 24 messages have no send time and are not in this chart."
    assert dom.by_id("over-time-absent").text == said
    assert dom.by_id("chart-over_time")


def test_the_email_names_no_local_path(tmp_path, lens_root):
    db = scored_with(tmp_path / "db", lens_root, ALL)
    written = build(ReportSettings(db=str(db), out=str(tmp_path / "out"), quiet=True))
    subject, text, html = email_parts(written["eml"])
    for part in (subject, text, html):
        assert str(tmp_path) not in part
    assert "db=echoroom.duckdb" in text  # the file's name is enough to know which database
