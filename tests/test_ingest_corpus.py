"""What every format shares: schema, batches, pseudonyms, timezones, detection, tables, the CLI."""

import hashlib
import hmac
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from echoroom.cli import build_parser, main
from echoroom.ingest import COLUMNS, FORMATS, SCHEMA, IngestError, Message, Options, ingest, message_id
from echoroom.ingest.clock import LocalClock

from helpers import corpus

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
DOCS = Path(__file__).parents[1] / "docs" / "ingest.md"
TABLE_COLUMNS = {"message_id": "id", "sender": "author", "sent_at": "created", "text": "body",
                 "conversation_id": "room"}
UTC = timezone.utc


def test_corpus_schema_and_row_groups_of_batch_size(tmp_path):
    ingest([EXPORTS / "slack"], tmp_path / "c.parquet", Options(batch_size=2))
    meta = pq.ParquetFile(tmp_path / "c.parquet")
    assert meta.schema_arrow.equals(SCHEMA)
    assert meta.schema_arrow.field("sent_at").type == pa.timestamp("us", tz="UTC")
    assert [meta.metadata.row_group(i).num_rows for i in range(meta.num_row_groups)] == [2, 2, 1]


def test_the_corpus_is_defined_once_and_documented():
    # The writer turns a Message into a row by field order, so that order is the schema's.
    assert [f.name for f in fields(Message)] == list(COLUMNS) == SCHEMA.names
    docs = DOCS.read_text(encoding="utf-8")
    assert [c for c in COLUMNS if f"| `{c}` |" not in docs] == [], "a corpus column is not in docs/ingest.md"


def test_an_export_with_no_messages_still_gives_a_corpus(tmp_path):
    empty = tmp_path / "chat.jsonl"
    empty.write_text('{"sender": "A", "sent_at": 1, "text": ""}\n', encoding="utf-8")
    df, summary = corpus(tmp_path, empty)
    assert df.is_empty() and summary.skipped == {"no text (media, sticker or embed)": 1}


def test_pseudonyms_are_keyed_hashes_and_ids_follow_them(tmp_path):
    chat = EXPORTS / "whatsapp" / "android_de_dots.txt"
    plain, _ = corpus(tmp_path, chat, timezone="Europe/Berlin")
    keyed, _ = corpus(tmp_path, chat, timezone="Europe/Berlin", pseudonymize_key=b"k1")
    again, _ = corpus(tmp_path, chat, timezone="Europe/Berlin", pseudonymize_key=b"k1")
    other, _ = corpus(tmp_path, chat, timezone="Europe/Berlin", pseudonymize_key=b"k2")
    expected = "anon-" + hmac.new(b"k1", b"Lea", hashlib.sha256).hexdigest()[:16]
    assert keyed["sender"][1] == expected
    assert keyed.equals(again)
    assert keyed["sender"][1] != other["sender"][1]
    # The id hashes the stored sender, so it cannot be used to confirm a guessed name.
    assert set(keyed["message_id"]).isdisjoint(plain["message_id"])
    assert keyed["text"].to_list() == plain["text"].to_list()


@pytest.mark.parametrize("walls, expected", [
    # Berlin, 31 Mar 2024: 02:00-03:00 does not exist; read with the offset before the gap (+1).
    ([datetime(2024, 3, 31, 2, 30)], [datetime(2024, 3, 31, 1, 30)]),
    # 27 Oct 2024: 02:00-03:00 happens twice. Alone, the earlier (+2) reading.
    ([datetime(2024, 10, 27, 2, 30)], [datetime(2024, 10, 27, 0, 30)]),
    # After 02:50 (first pass), 02:10 must be the second pass (+1).
    ([datetime(2024, 10, 27, 2, 50), datetime(2024, 10, 27, 2, 10)],
     [datetime(2024, 10, 27, 0, 50), datetime(2024, 10, 27, 1, 10)]),
    # After 02:10, 02:50 may still be the first pass: the earlier reading is kept.
    ([datetime(2024, 10, 27, 2, 10), datetime(2024, 10, 27, 2, 50)],
     [datetime(2024, 10, 27, 0, 10), datetime(2024, 10, 27, 0, 50)]),
])
def test_daylight_saving_rules(walls, expected):
    clock = LocalClock(ZoneInfo("Europe/Berlin"), "chat.txt")
    assert [clock.utc(w) for w in walls] == [e.replace(tzinfo=UTC) for e in expected]


def test_unknown_content_names_the_supported_formats(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("Dear diary\nnothing happened today\n", encoding="utf-8")
    with pytest.raises(IngestError, match="notes.txt: cannot tell the export format from its "
                                          "content. Supported formats: " + ", ".join(FORMATS)):
        corpus(tmp_path, notes)


@pytest.mark.parametrize("options, match", [
    ({"format": "icq"}, "unknown format 'icq'; supported: whatsapp, discord, telegram, slack"),
    ({"timezone": "Europe/Berln"}, "unknown timezone 'Europe/Berln'; use an IANA name"),
    ({"on_error": "ignore"}, "on_error must be 'stop' or 'skip'"),
    ({"columns": {"body": "text"}}, r"unknown corpus column\(s\) body in the column mapping"),
])
def test_bad_options_say_what_is_allowed(options, match):
    with pytest.raises(IngestError, match=match):
        Options(**options)


def test_csv_with_a_column_mapping_bom_and_mixed_timestamps(tmp_path):
    df, summary = corpus(tmp_path, EXPORTS / "tabular" / "messages.csv", timezone="Europe/Berlin",
                         columns=TABLE_COLUMNS)
    assert df["sent_at"].to_list() == [
        datetime(2024, 3, 31, 0, 30, tzinfo=UTC),   # naive, read in Berlin (+1 before the switch)
        datetime(2024, 3, 31, 1, 10, tzinfo=UTC),   # +02:00 kept
        datetime(2024, 3, 31, 1, 53, 20, tzinfo=UTC)]  # Unix seconds
    assert df["text"][2] == "two\nlines"
    assert df["message_id"][0] == message_id("tabular", "house", "m1")
    assert summary.skipped == {"no text (media, sticker or embed)": 1}


def test_csv_without_the_needed_columns_says_how_to_map_them(tmp_path):
    with pytest.raises(IngestError, match=r"messages\.csv: no column for sender, sent_at, text; "
                                          r"found columns 'id', 'author'.*--column sender=author"):
        corpus(tmp_path, EXPORTS / "tabular" / "messages.csv")


def test_jsonl_native_ids_replies_and_a_bad_line(tmp_path):
    df, _ = corpus(tmp_path, EXPORTS / "tabular" / "messages.jsonl")
    assert df["platform"].unique().to_list() == ["intercom"]
    assert df["reply_to"][2] == df["message_id"][1] == message_id("intercom", "support-42", "c2")
    broken = tmp_path / "broken.jsonl"
    broken.write_text((EXPORTS / "tabular" / "messages.jsonl").read_text() + "{oops\n")
    with pytest.raises(IngestError, match=r"broken\.jsonl:5: invalid JSON"):
        corpus(tmp_path, broken)
    partial = tmp_path / "partial.jsonl"
    partial.write_text('{"sender": "A", "sent_at": 1, "text": "hi"}\n{"sender": "B", "sent_at": 2}\n')
    with pytest.raises(IngestError, match=r"partial\.jsonl:2: no text field"):
        corpus(tmp_path, partial)


def test_parquet_with_timestamp_columns_and_milliseconds(tmp_path):
    source = tmp_path / "export.parquet"
    pq.write_table(pa.table({
        "sender": ["A", "B", "A"], "text": ["hi", "hey", "hi"],
        "sent_at": pa.array([datetime(2024, 1, 1, 12), datetime(2024, 1, 1, 12, 1),
                             datetime(2024, 1, 1, 12)], pa.timestamp("ms", tz="Asia/Tokyo")),
    }), source)
    df, _ = corpus(tmp_path, source)
    assert df["sent_at"][0] == datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert df["message_id"].n_unique() == 3  # the exact repeat gets its own id
    millis = tmp_path / "millis.jsonl"
    millis.write_text('{"sender": "A", "sent_at": 1705309200000, "text": "hi"}\n')
    df, _ = corpus(tmp_path, millis)
    assert df["sent_at"][0] == datetime(2024, 1, 15, 9, tzinfo=UTC)


def test_cli_ingests_and_prints_the_summary(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ECHO_KEY", "a long random secret")
    out = tmp_path / "corpus.parquet"
    code = main(["ingest", str(EXPORTS / "slack"), str(EXPORTS / "whatsapp" / "_chat.txt"),
                 "--out", str(out), "--timezone", "Europe/London",
                 "--pseudonymize-key-env", "ECHO_KEY"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "wrote 9 messages" in printed and "skipped 3: system message" in printed
    assert pl.read_parquet(out)["sender"].str.starts_with("anon-").all()


def test_cli_reports_errors_without_a_traceback(tmp_path, capsys):
    code = main(["ingest", str(EXPORTS / "slack"), "--out", str(tmp_path / "c.parquet"),
                 "--pseudonymize-key-env", "ECHO_UNSET_KEY"])
    assert code == 2
    assert "ECHO_UNSET_KEY, which is not set" in capsys.readouterr().err


def test_every_format_and_option_is_documented():
    docs = DOCS.read_text(encoding="utf-8")
    ingest_parser = build_parser()._subparsers._group_actions[0].choices["ingest"]
    for action in ingest_parser._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert f"`{flag}" in docs, f"{flag} is not in docs/ingest.md"
    for fmt in FORMATS:
        assert fmt in ingest_parser.description and f"`{fmt}`" in docs
