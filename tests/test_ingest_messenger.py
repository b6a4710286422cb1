"""Messenger and Instagram downloads: folders and zips of message_N.json, the mojibake repair,
reactions ignored, media, shares, calls and unsent messages counted."""

import shutil
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from echoroom.ingest import IngestError, detect
from echoroom.ingest.messenger import repair

from helpers import corpus

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
MESSENGER, INSTAGRAM = EXPORTS / "messenger", EXPORTS / "instagram"
UTC = timezone.utc
SYSTEM, MEDIA, DELETED = "system message", "no text (media, sticker or embed)", "deleted message"


def test_messenger_folder_round_trips_accents_and_emoji(tmp_path):
    df, summary = corpus(tmp_path, MESSENGER)
    assert summary.exports == [(str(MESSENGER), "messenger", 2)]
    assert df["text"].to_list() == ["Café at 5? 😂 très bien", "Bonjour"]
    assert df["sender"].to_list() == ["Ana Müller", "Carla"]
    assert df["channel"].unique().to_list() == ["Ana Müller"]
    assert df["conversation_id"].unique().to_list() == ["messenger:inbox/ana_1234567"]
    assert df["platform"].unique().to_list() == ["messenger"]
    assert df["sent_at"][0] == datetime(2024, 1, 15, 9, 0, 0, 123000, tzinfo=UTC)  # exact ms
    # two photos and a video, a shared link; a call, a reaction notice, a video chat; an unsent one
    assert dict(summary.skipped) == {MEDIA: 4, SYSTEM: 3, DELETED: 1}
    assert summary.zone is None  # Unix milliseconds need no zone


def test_instagram_zip_is_told_by_its_folders(tmp_path):
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in INSTAGRAM.rglob("*.json"):
            z.write(path, path.relative_to(INSTAGRAM).as_posix())
        z.writestr("your_instagram_activity/media/posts/1.jpg", b"\xff\xd8")
    assert detect(archive)[0] == "instagram"
    df, summary = corpus(tmp_path, archive)
    assert df["text"].to_list() == ["¡Qué bonito! 🌅"]
    assert df["sender"].to_list() == ["Zoë"]
    assert df["conversation_id"].to_list() == ["instagram:inbox/ben_7654321"]
    assert dict(summary.skipped) == {SYSTEM: 1, MEDIA: 1}


def test_a_single_message_file_and_stable_ids(tmp_path):
    one = MESSENGER / "messages" / "inbox" / "ana_1234567" / "message_1.json"
    assert detect(one)[0] == "messenger"
    first, _ = corpus(tmp_path, one)
    both, _ = corpus(tmp_path, MESSENGER)
    assert first["message_id"].to_list() == both["message_id"].to_list()[:1]


def test_repair_leaves_right_text_alone():
    assert repair("Caf\u00c3\u00a9") == "Café"
    assert repair("Café") == "Café"          # é alone is not UTF-8: kept
    assert repair("😂 ok") == "😂 ok"        # beyond latin-1: kept


def test_a_record_without_a_sender_names_its_line(tmp_path):
    folder = tmp_path / "messages" / "inbox" / "x_1"
    folder.mkdir(parents=True)
    (folder / "message_1.json").write_text(
        '{"participants": [],\n "messages": [\n  {"sender_name": "A", "timestamp_ms": 1, "content": "hi"},\n'
        '  {"timestamp_ms": 2, "content": "who?"}\n ],\n "title": "x"}\n', encoding="utf-8")
    with pytest.raises(IngestError, match=r"message_1\.json:4: unreadable message record: missing field "
                                          "'sender_name'"):
        corpus(tmp_path, tmp_path / "messages")
    shutil.rmtree(tmp_path / "messages")
