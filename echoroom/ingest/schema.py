"""The corpus, defined once: its columns, their Arrow types, the ``Message`` row and stable ids.

Ingest writes this schema; scoring reads it (``echoroom/scoring/corpus.py`` takes its canonical
columns and their types from here), and the DuckDB ``messages`` table holds the same columns.

Message ids are the first 128 bits (32 hex digits) of SHA-256 over ``v1``, the platform, the
conversation id and a key, joined by U+001F:

- where the platform numbers its messages (Discord, Telegram, Slack ``ts``, a mapped
  ``message_id`` column) the key is that native id;
- where it does not (WhatsApp, DiscordChatExporter CSV, tables without an id column) the key is the
  time as the source wrote it, the stored sender, the text, and, for exact repeats of all three
  (two "ok"s in the same minute), an occurrence number 1, 2, ... after the first.

Nothing in a key depends on what follows a message in the export, so a longer export of the same
chat gives the old messages their old ids, and re-ingesting gives identical ids.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

SCHEMA = pa.schema([
    pa.field("message_id", pa.string(), nullable=False),
    pa.field("conversation_id", pa.string(), nullable=False),
    pa.field("sender", pa.string(), nullable=False),
    pa.field("sent_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("channel", pa.string(), nullable=False),
    pa.field("reply_to", pa.string(), nullable=True),
    pa.field("platform", pa.string(), nullable=False),
])
COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)
ID_SCHEME = "v1"


@dataclass(slots=True)
class Message:
    # Field order is SCHEMA's order: the writer relies on it (a test checks it).
    message_id: str
    conversation_id: str
    sender: str
    sent_at: datetime  # aware, UTC
    text: str
    channel: str
    reply_to: str | None
    platform: str


def message_id(platform: str, conversation_id: str, *key) -> str:
    joined = "\x1f".join((ID_SCHEME, platform, conversation_id, *map(str, key)))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:32]


class Repeats:
    """Ids for messages without a native id, numbering exact repeats in file order.

    Counts are kept for the last ``window`` distinct messages only, which bounds memory; a repeat
    needs the same timestamp anyway, so it is never that far from its first occurrence.
    """

    def __init__(self, platform: str, window: int = 4096):
        self.platform = platform
        self.window = window
        self._counts: OrderedDict[str, int] = OrderedDict()

    def message_id(self, conversation_id: str, when: str, sender: str, text: str) -> str:
        base = message_id(self.platform, conversation_id, when, sender, text)
        n = self._counts.pop(base, -1) + 1
        self._counts[base] = n
        if len(self._counts) > self.window:
            self._counts.popitem(last=False)
        return base if n == 0 else message_id(self.platform, conversation_id, when, sender, text, n)
