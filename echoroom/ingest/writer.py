"""The corpus writer: ``Message`` rows to one Parquet file of the corpus ``SCHEMA``, streamed."""

from __future__ import annotations

import os
from dataclasses import astuple
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from echoroom.ingest.schema import SCHEMA, Message

_BATCH_CHARS = 32_000_000  # text characters per row group at most, whatever batch_size says


class CorpusWriter:
    """Writes messages to Parquet in row groups of ``batch_size``, keeping one batch in memory.

    The file is written under a temporary name and moved into place only when the whole ingest
    succeeded, so a stopped run never leaves a half corpus. Ids already written are remembered
    (as 128-bit ints, ~70 bytes each) so overlapping exports do not write a message twice; the
    first occurrence wins. ``metadata`` (str -> str) is written into the file's key-value metadata
    when it closes, so it can say what was learnt while reading (the zone local times were read in).
    """

    def __init__(self, path: str | os.PathLike, batch_size: int = 10_000):
        self.path = Path(path)
        self.batch_size = batch_size
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._rows: list[tuple] = []
        self._chars = 0
        self._seen: set[int] = set()
        self._writer: pq.ParquetWriter | None = None
        self.metadata: dict[str, str] = {}

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
        self._chars += len(message.text or "")
        # By text too: a batch of long messages (up to MAX_MESSAGE_CHARS each) must not pile up.
        if len(self._rows) >= self.batch_size or self._chars >= _BATCH_CHARS:
            self._flush()
        return True

    def _flush(self) -> None:
        if self._rows:
            columns = list(zip(*self._rows))
            self._writer.write_table(pa.table(
                [pa.array(col, type=f.type) for col, f in zip(columns, SCHEMA)], schema=SCHEMA))
            self._rows, self._chars = [], 0

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._flush()
                if self.metadata:
                    self._writer.add_key_value_metadata(self.metadata)
        finally:
            self._writer.close()
            if exc_type is None:
                os.replace(self._partial, self.path)
            else:
                self._partial.unlink(missing_ok=True)
