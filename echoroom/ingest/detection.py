"""Which reader an export needs, told from its content (file names only pick a zip's member).

In order: a folder or zip with ``users.json`` and ``channels.json`` is Slack; one with
``result.json`` is Telegram; one with ``message_1.json`` files is Messenger, or Instagram when its
path says so; a zip with a WhatsApp ``.txt`` is WhatsApp. A file starting with ``PAR1`` is Parquet;
one whose first lines are WhatsApp headers is WhatsApp; a JSON object whose first key is ``guild``
is DiscordChatExporter, one whose first key is ``participants`` is Messenger (Instagram by its
path), and one with ``chats`` or ``messages`` is Telegram; one JSON object per line is JSONL; the
DiscordChatExporter CSV header is Discord; any other delimited header line is CSV.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

from echoroom.ingest import discord, messenger, slack, tabular, telegram, whatsapp
from echoroom.ingest.errors import IngestError
from echoroom.ingest.session import FORMATS
from echoroom.ingest.source import Entry, Tree

READERS: dict[str, Callable] = {
    "whatsapp": whatsapp.read,
    "discord": discord.read,
    "telegram": telegram.read,
    "slack": slack.read,
    "messenger": messenger.read_messenger,
    "instagram": messenger.read_instagram,
    "csv": tabular.read_csv,
    "jsonl": tabular.read_jsonl,
    "parquet": tabular.read_parquet,
}
assert tuple(READERS) == FORMATS
_TEXT_BYTES = bytes([9, 10, 12, 13, 27, *range(32, 256)])  # all but the control bytes
_FIRST_KEY = re.compile(r'\s*\{\s*"([^"]*)"\s*:')


def detect(path: str | Path, forced: str | None = None) -> tuple[str, Entry | Tree]:
    """(format, what its reader reads) for one export path."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path}: no such file or folder")
    if path.is_dir() or zipfile.is_zipfile(path):
        return _in_tree(Tree(path), path, forced)
    if forced == "slack":
        raise IngestError(f"{path}: a Slack export is a folder or zip holding users.json and "
                          "channels.json, not a single file")
    entry = Entry(path)
    return forced or _sniff(entry), entry


def _in_tree(tree: Tree, path: Path, forced: str | None) -> tuple[str, Entry | Tree]:
    names = tree.entries
    if forced in (None, "slack") and slack.is_export(tree):
        return "slack", tree
    if forced in (None, "telegram") and "result.json" in names:
        return "telegram", names["result.json"]
    if forced in (None, "messenger", "instagram") and any(map(messenger.MESSAGE_FILE.search, names)):
        # The members' own paths: the tree looks through a single top folder, which may be it.
        where = [e.member or e.path.as_posix() for e in names.values()]
        return forced or messenger.platform_of(path.as_posix(), where), tree
    texts = [e for n, e in names.items() if n.endswith(".txt") and "/" not in n]
    chats = [e for e in texts if forced == "whatsapp" or
             whatsapp.looks_like(e.head().decode("utf-8", errors="replace"))]
    if forced in (None, "whatsapp") and len(chats) == 1:
        return "whatsapp", chats[0]
    if len(chats) > 1:
        raise IngestError(f"{path} holds several chat files ({', '.join(e.name for e in chats)});"
                          " unpack it and pass them one by one")
    raise IngestError(f"{path}: not a Slack export (users.json + channels.json), a Telegram "
                      "export (result.json), a Messenger or Instagram download (message_1.json) "
                      f"or a WhatsApp chat zip{_supported(forced)}")


def _sniff(entry: Entry) -> str:
    raw = entry.head()
    if raw.startswith(b"PAR1"):
        return "parquet"
    if _binary(raw):
        raise IngestError(f"{entry.label}: cannot tell the export format from its content: it is "
                          "not text (control bytes, or mostly bytes that are not UTF-8, at its "
                          f"start){_supported(None)}")
    head = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
    if whatsapp.looks_like(head):
        return "whatsapp"
    first_line = head.split("\n", 1)[0].strip()
    try:
        row = json.loads(first_line)
    except ValueError:
        row = None
    keys = set(row) if isinstance(row, dict) else set()
    first_key = _FIRST_KEY.match(head)
    if "guild" in keys or (not keys and first_key and first_key[1] == "guild"):
        return "discord"
    if "participants" in keys or (not keys and first_key and first_key[1] == "participants"):
        return messenger.platform_of(entry.path.as_posix(), [entry.member or entry.path.as_posix()])
    if keys & {"chats", "messages"} or (not keys and first_key and
                                        re.search(r'"(chats|messages)"\s*:', head)):
        return "telegram"
    if keys:
        return "jsonl"
    if first_line.split(",")[:4] == discord.CSV_HEADER[:4]:
        return "discord"
    if first_line and not first_key and any(d in first_line for d in ",;\t|"):
        return "csv"
    raise IngestError(f"{entry.label}: cannot tell the export format from its content"
                      f"{_supported(None)}")


def _binary(raw: bytes) -> bool:
    """Whether the start of a file is not text: control bytes (NUL, ...) over 1 in 100, or bytes that
    are not UTF-8 over 1 in 10 (a legacy 8-bit encoding with a few accents is still read, and its
    lines reported one by one)."""
    if not raw:
        return False
    controls = len(raw.translate(None, _TEXT_BYTES))
    invalid = raw.decode("utf-8", errors="replace").count("\ufffd")
    return controls * 100 > len(raw) or invalid * 10 > len(raw)


def _supported(forced: str | None) -> str:
    told = f" (with --format {forced})" if forced else ""
    return (f"{told}. Supported formats: {', '.join(FORMATS)}; pass --format to name one")
