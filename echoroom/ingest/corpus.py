"""The canonical message corpus: its schema, its stable message ids, and its streaming writer.

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
import os
from collections import OrderedDict
from dataclasses import astuple, dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

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
ID_SCHEME = "v1"


@dataclass(slots=True)
class Message:
    # Field order is SCHEMA's order: the writer relies on it.
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


class CorpusWriter:
    """Writes messages to Parquet in row groups of ``batch_size``, keeping one batch in memory.

    The file is written under a temporary name and moved into place only when the whole ingest
    succeeded, so a stopped run never leaves a half corpus. Ids already written are remembered
    (as 128-bit ints, ~70 bytes each) so overlapping exports do not write a message twice; the
    first occurrence wins.
    """

    def __init__(self, path: str | os.PathLike, batch_size: int = 10_000):
        self.path = Path(path)
        self.batch_size = batch_size
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._rows: list[tuple] = []
        self._seen: set[int] = set()
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> CorpusWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(self._partial, SCHEMA)
        return self

    def add(self, message: Message) -> bool:
        """Queue a message; False (and nothing written) when its id was already written."""
        key = int(message.message_id, 16)
        if key in self._seen:
            return False
        self._seen.add(key)
        self._rows.append(astuple(message))
        if len(self._rows) >= self.batch_size:
            self._flush()
        return True

    def _flush(self) -> None:
        if self._rows:
            columns = list(zip(*self._rows))
            self._writer.write_table(pa.table(
                [pa.array(col, type=f.type) for col, f in zip(columns, SCHEMA)], schema=SCHEMA))
            self._rows = []

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._flush()
        finally:
            self._writer.close()
            if exc_type is None:
                os.replace(self._partial, self.path)
            else:
                self._partial.unlink(missing_ok=True)
