"""JSON exports are read incrementally: memory stays flat however big the file, records keep their
line numbers, and Telegram single chats without an id or with service messages are read."""

import json
import tracemalloc
from pathlib import Path

import pytest

from echoroom.ingest import IngestError, Options, discord, telegram
from echoroom.ingest.json_document import JsonDocument, MalformedJson
from echoroom.ingest.session import Session
from echoroom.ingest.source import Entry

from helpers import corpus

EXPORTS = Path(__file__).parent / "fixtures" / "exports"


def write_discord(path: Path, messages: int) -> Path:
    """A DiscordChatExporter-shaped export of ``messages`` messages, written without holding it."""
    with path.open("w", encoding="utf-8") as f:
        f.write('{"guild": {"id": "1", "name": "Big"}, "channel": {"id": "2", "name": "general"},\n'
                ' "messages": [\n')
        for i in range(messages):
            record = {"id": str(10**17 + i), "type": "Default", "timestamp": "2024-01-15T09:00:00+00:00",
                      "content": f"message {i} with some text, an émoji 😀 and a \"quote\"",
                      "author": {"id": "3", "name": f"user{i % 50}", "nickname": None},
                      "attachments": [], "reactions": [{"emoji": {"name": "👍"}, "count": 2}]}
            f.write(("  " if i == 0 else ", ") + json.dumps(record, ensure_ascii=False) + "\n")
        f.write(f' ],\n "messageCount": {messages}\n}}\n')
    return path


def peak_while_reading(read, path: Path) -> tuple[int, int]:
    """(messages read, peak bytes traced) for reading ``path``, the messages dropped as they come."""
    session = Session(Options(timezone="UTC"))
    tracemalloc.start()
    try:
        count = sum(1 for _ in read(Entry(path), session))
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_discord_json_memory_does_not_grow_with_the_file(tmp_path):
    small = write_discord(tmp_path / "small.json", 2_000)
    big = write_discord(tmp_path / "big.json", 60_000)  # about 13 MB
    assert big.stat().st_size > 12 * 2**20
    n_small, peak_small = peak_while_reading(discord.read, small)
    n_big, peak_big = peak_while_reading(discord.read, big)
    assert (n_small, n_big) == (2_000, 60_000)
    # The window is a 1 MiB chunk (up to 4 bytes a character): a whole-file read would be 13 MB+.
    assert peak_big < 8 * 2**20, peak_big
    assert peak_big < peak_small + 4 * 2**20


def test_records_keep_their_lines_across_chunk_boundaries(tmp_path):
    export = write_discord(tmp_path / "general [2].json", 3_000)
    lines = export.read_text(encoding="utf-8").splitlines(True)
    lines[2_500] = lines[2_500].replace('"author"', '"writer"')  # record on line 2501, mid-file
    export.write_text("".join(lines), encoding="utf-8")
    with export.open("rb") as f:  # a tiny window, so records straddle many refills
        doc = JsonDocument(f, chunk_bytes=1000)
        for key, pos in doc.object(0):
            if key == "messages":
                lines_seen = [line for line, _ in doc.items(pos)]
    assert lines_seen == list(range(3, 3_003))
    with pytest.raises(IngestError, match=r"general \[2\]\.json:2501: unreadable message record: missing "
                                          "field 'author'"):
        corpus(tmp_path, export)


def test_invalid_json_deep_in_a_file_names_its_line(tmp_path):
    export = tmp_path / "broken.json"
    export.write_text('{"messages": [\n' + ",\n".join(['{"a": 1}'] * 500) + ",\n{oops}\n]}\n")
    with export.open("rb") as f:
        doc = JsonDocument(f, chunk_bytes=64)
        with pytest.raises(MalformedJson, match="line 502: invalid JSON"):
            for _, pos in doc.object(0):
                list(doc.items(pos))


def test_numbers_and_literals_cut_by_the_window_are_read_whole(tmp_path):
    export = tmp_path / "values.json"
    values = [123456789012345678, True, None, -1.5e10, "é" * 70, {"k": [1, 2, 3]}, False]
    export.write_text(json.dumps({"v": values * 20}))
    for size in (1, 2, 3, 5, 7, 13):
        with export.open("rb") as f:
            doc = JsonDocument(f, chunk_bytes=size)
            got = [value for key, pos in doc.object(0) for _, value in doc.items(pos)]
        assert got == values * 20, size


def test_telegram_single_chat_without_id_and_service_messages(tmp_path):
    export = tmp_path / "Book Club" / "result.json"
    export.parent.mkdir()
    export.write_text(json.dumps({
        "name": "Book Club", "type": "private_group",
        "messages": [
            {"id": 1, "type": "service", "date": "2024-01-15T09:00:00", "actor": "Ana",
             "action": "create_group", "title": "Book Club", "text": ""},
            {"id": 2, "type": "service", "date": "2024-01-15T09:00:30", "actor": "Ana",
             "action": "pin_message", "message_id": 3, "text": ""},
            {"id": 3, "type": "message", "date": "2024-01-15T09:01:00", "from": "Ana",
             "text": "Chapter 3 tonight?"},
            {"id": 4, "date": "2024-01-15T09:02:00", "from": "Ben", "text": "yes!"},
        ]}, indent=1), encoding="utf-8")
    df, summary = corpus(tmp_path, export, timezone="UTC")
    assert df["conversation_id"].unique().to_list() == ["telegram:Book Club"]
    assert df["text"].to_list() == ["Chapter 3 tonight?", "yes!"]
    assert dict(summary.skipped) == {"system message": 2}
    named, _ = corpus(tmp_path, export, timezone="UTC", conversation="club")
    assert named["conversation_id"].unique().to_list() == ["telegram:club"]


def test_telegram_is_read_incrementally_too(tmp_path):
    n, peak = peak_while_reading(telegram.read, EXPORTS / "telegram" / "full" / "result.json")
    assert n > 0 and peak < 4 * 2**20
