"""Discord (DiscordChatExporter JSON and CSV), Telegram (single chat, full export) and Slack."""

import shutil
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from echoroom.ingest import IngestError, message_id

from helpers import corpus

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
DISCORD = EXPORTS / "discord" / "Echo Guild - Text Channels - general [1100000000000000001]"
UTC = timezone.utc


def test_discord_json_ids_replies_offsets_and_system_messages(tmp_path):
    df, summary = corpus(tmp_path, DISCORD.with_suffix(".json"))
    conversation = "discord:1100000000000000001"
    assert df["conversation_id"].unique().to_list() == [conversation]
    assert df["message_id"][0] == message_id("discord", conversation, "1200000000000000001")
    assert df["reply_to"].to_list() == [None, df["message_id"][0], None]
    assert df["sender"].to_list() == ["Ana", "ben", "Ana"]  # nickname, else name
    assert df["sent_at"][1] == datetime(2024, 1, 15, 9, 5, tzinfo=UTC)  # +01:00 kept
    assert df["channel"][0] == "Echo Guild / Text Channels / #general"
    assert summary.skipped == {"system message": 2, "no text (media, sticker or embed)": 1}


def test_discord_csv_channel_from_file_name_and_quoted_fields(tmp_path):
    df, summary = corpus(tmp_path, DISCORD.with_suffix(".csv"))
    assert df["conversation_id"].unique().to_list() == ["discord:1100000000000000001"]
    assert df["sender"].to_list() == ["ana", "ben", "ana", "carla, the great"]
    assert df["text"].to_list()[2:] == [
        "honestly this bug makes me want to throw my laptop 😤\nsecond line", 'she said "hi"']
    assert df["sent_at"][0] == datetime(2024, 1, 15, 9, 0, 0, 123000, tzinfo=UTC)
    assert summary.skipped == {"no text (media, sticker or embed)": 1}


def test_discord_csv_bad_row_names_its_line(tmp_path):
    bad = tmp_path / "general [1].csv"
    bad.write_text("AuthorID,Author,Date,Content,Attachments,Reactions\n"
                   "1,ana,2024-01-15T09:00:00+00:00,hi,,\n1,ana,yesterday,hello,,\n",
                   encoding="utf-8")
    with pytest.raises(IngestError, match=r"general \[1\]\.csv:3: unreadable timestamp 'yesterday'"):
        corpus(tmp_path, bad)


def test_telegram_single_chat_text_as_string_or_entities(tmp_path):
    df, summary = corpus(tmp_path, EXPORTS / "telegram" / "single" / "result.json")
    assert df["text"].to_list() == ["Who finished the book?",
                                    "I did! The ending was devastating 😢",
                                    "hello from a deleted account"]
    conversation = "telegram:4000000001"
    assert df["message_id"][1] == message_id("telegram", conversation, 3)
    assert df["reply_to"][1] == message_id("telegram", conversation, 2)
    assert df["sent_at"][0] == datetime(2024, 1, 15, 8, 1, tzinfo=UTC)  # from date_unixtime
    assert summary.skipped == {"system message": 1, "no text (media, sticker or embed)": 1}


def test_telegram_full_export_walks_chats_and_left_chats(tmp_path):
    df, _ = corpus(tmp_path, EXPORTS / "telegram" / "full", timezone="Europe/Berlin")
    assert df["channel"].to_list() == ["Ben", "Ben", "Old Friends", "Old Friends", "Left Group"]
    # The old chat has local dates only; 02:50 then 02:10 on the night clocks went back: the
    # second is the repeated hour, so it comes after the first.
    old = df.filter(pl.col("channel") == "Old Friends")["sent_at"].to_list()
    assert old == [datetime(2023, 10, 29, 0, 50, tzinfo=UTC),
                   datetime(2023, 10, 29, 1, 10, tzinfo=UTC)]


def test_telegram_broken_json_names_its_line(tmp_path):
    text = (EXPORTS / "telegram" / "single" / "result.json").read_text(encoding="utf-8")
    broken = tmp_path / "result.json"
    broken.write_text(text.replace('"Who finished the book?"', '"Who finished the book?'),
                      encoding="utf-8")
    line = text[:text.index("Who finished")].count("\n") + 1
    with pytest.raises(IngestError, match=rf"result\.json:{line}: invalid JSON"):
        corpus(tmp_path, broken, format="telegram")


def test_slack_folder_resolves_users_mentions_threads_and_bots(tmp_path):
    df, summary = corpus(tmp_path, EXPORTS / "slack")
    assert df["sender"].to_list() == ["Ana", "Ben Brook", "deploybot", "Ben Brook", "Ana"]
    assert df["text"][0] == "Welcome @Ben Brook! Release notes are in the wiki & the deck"
    parent = message_id("slack", "slack:C01GENERAL", "1705305660.000200")
    assert df["message_id"][0] == parent
    assert df["reply_to"].to_list() == [None, parent, None, None, None]
    assert df["sent_at"][1] == datetime(2024, 1, 15, 8, 2, 0, 300, tzinfo=UTC)  # exact ts
    assert df["channel"].unique(maintain_order=True).to_list() == ["#general", "#random"]
    assert summary.skipped == {"system message": 1, "no text (media, sticker or embed)": 1}


def test_slack_zip_with_a_top_folder_reads_like_the_folder(tmp_path):
    archive = tmp_path / "Echo Slack export Jan 15 2024.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted((EXPORTS / "slack").rglob("*.json")):
            z.write(path, "export/" + path.relative_to(EXPORTS / "slack").as_posix())
    from_zip, _ = corpus(tmp_path, archive)
    from_folder, _ = corpus(tmp_path, EXPORTS / "slack")
    assert from_zip.equals(from_folder)


def test_slack_pseudonymises_mentions_too(tmp_path):
    df, _ = corpus(tmp_path, EXPORTS / "slack", pseudonymize_key=b"secret")
    ben = df["sender"][1]
    assert ben.startswith("anon-") and "Ben" not in df["text"][0]
    assert df["text"][0].startswith(f"Welcome @{ben}!")


def test_slack_export_without_users_is_not_detected(tmp_path):
    shutil.copytree(EXPORTS / "slack", tmp_path / "export")
    (tmp_path / "export" / "users.json").unlink()
    with pytest.raises(IngestError, match="not a Slack export .* Supported formats: whatsapp, "
                                          "discord, telegram, slack, messenger, instagram, csv, "
                                          "jsonl, parquet"):
        corpus(tmp_path, tmp_path / "export")


def _slack_day(folder: Path, records: str) -> Path:
    shutil.copytree(EXPORTS / "slack", folder)
    (folder / "general" / "2024-01-17.json").write_text(records, encoding="utf-8")
    return folder


# A record the reader cannot make a message of (a field missing, a value of the wrong type) is
# named by file and line, in every JSON format, and counted under --on-error skip.
@pytest.mark.parametrize("make, line, problem", [
    (lambda d: _slack_day(d / "export", '[\n{"type": "message", "user": "U01ANA", "text": "ok",'
                                        ' "ts": "1705482000.000100"},\n'
                                        '{"type": "message", "user": "U01ANA", "text": "no ts"}\n]'),
     3, "missing field 'ts'"),
    (lambda d: d / "result.json", 3, "missing field 'date'"),
    (lambda d: d / "general [7].json", 4, "missing field 'author'"),
])
def test_a_json_record_without_a_field_names_its_line(tmp_path, make, line, problem):
    (tmp_path / "result.json").write_text(
        '{"name": "Ben", "type": "personal_chat", "id": 7, "messages": [\n'
        '{"id": 1, "type": "message", "date_unixtime": "1705305600", "from": "Ben", "text": "ok"},\n'
        '{"id": 2, "type": "message", "from": "Ben", "text": "no date"}\n]}', encoding="utf-8")
    (tmp_path / "general [7].json").write_text(
        '{"guild": {"name": "G"}, "channel": {"id": "7", "name": "general"},\n"messages": [\n'
        '{"id": "1", "type": "Default", "timestamp": "2024-01-15T09:00:00+00:00", "content": "ok",'
        ' "author": {"name": "ana"}},\n'
        '{"id": "2", "type": "Default", "timestamp": "2024-01-15T09:01:00+00:00", "content": "who?"}\n]}',
        encoding="utf-8")
    export = make(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(IngestError, match=rf":{line}: unreadable message record: {problem} \(use --on-error"):
        corpus(out, export)
    df, summary = corpus(out, export, on_error="skip")
    assert summary.skipped["malformed"] == 1 and summary.problems[0].endswith(
        f":{line}: unreadable message record: {problem}")
    assert "ok" in df["text"].to_list()
