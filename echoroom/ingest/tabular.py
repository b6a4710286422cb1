"""Messages already in a table: CSV, JSONL or Parquet, one message per row or line.

Columns are found by their corpus names (``sender``, ``sent_at``, ``text``; optionally
``message_id``, ``conversation_id``, ``channel``, ``reply_to``, ``platform``) or through a mapping,
e.g. ``{"sender": "author", "sent_at": "created"}`` (``--column sender=author``). Without a
``conversation_id`` column the file's name is the conversation; without ``platform``, the
``platform`` option or "tabular". A ``message_id`` column is the native id (hashed with platform and
conversation like every other id); without one, ids are built from time, sender and text.
``sent_at`` may be ISO 8601 (naive ones are read in ``--timezone``), Unix seconds or milliseconds,
or a Parquet timestamp. All three are read in batches: CSV and JSONL line by line, Parquet by
record batch, so memory does not grow with the file. Parquet text (string or binary columns) that
is not UTF-8 is a malformed record at its row, like such bytes on a CSV line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow.parquet as pq

from echoroom.ingest import arrow_text
from echoroom.ingest.errors import IngestError
from echoroom.ingest.schema import COLUMNS, Message, Repeats, message_id
from echoroom.ingest.session import NO_TEXT, Session
from echoroom.ingest.source import Entry

REQUIRED = ("sender", "sent_at", "text")
OPTIONAL = tuple(c for c in COLUMNS if c not in REQUIRED)
DEFAULT_PLATFORM = "tabular"


def read_csv(entry: Entry, session: Session) -> Iterator[Message]:
    rows = entry.rows(session.bad, delimiters=",;\t|")
    _, names = next(rows, (1, []))
    rows_to = _Rows(entry, session, names)
    for start, row in rows:
        if not row:
            continue
        if len(row) != len(names):
            session.bad(entry.label, start, f"expected {len(names)} fields, found {len(row)}")
            continue
        yield from rows_to.message(dict(zip(names, row)), start)


def read_jsonl(entry: Entry, session: Session) -> Iterator[Message]:
    rows_to = None
    for number, line in entry.lines(session.bad):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            session.bad(entry.label, number, f"invalid JSON: {e.msg}")
            continue
        if not isinstance(row, dict):
            session.bad(entry.label, number, f"expected a JSON object, found {type(row).__name__}")
            continue
        # Lines may leave out optional keys, so only the required ones are checked on the first.
        rows_to = rows_to or _Rows(entry, session, list(row), optional_present=True)
        yield from rows_to.message(row, number)


def read_parquet(entry: Entry, session: Session) -> Iterator[Message]:
    with entry.open() as f:
        table = pq.ParquetFile(f)
        rows_to = _Rows(entry, session, table.schema_arrow.names)
        number = 0
        for batch in table.iter_batches(batch_size=session.options.batch_size,
                                        columns=list(rows_to.columns.values())):
            for row in arrow_text.rows(batch):
                number += 1
                if isinstance(row, tuple):  # (column, byte): a value that is not UTF-8
                    session.bad(entry.label, None, f"row {number}, {arrow_text.problem(*row)}")
                    continue
                yield from rows_to.message(row, number)  # the row number stands for a line


class _Rows:
    """Turns rows of one file into messages, by the column mapping checked against its header."""

    def __init__(self, entry: Entry, session: Session, names: list[str],
                 optional_present: bool = False):
        self.entry, self.session = entry, session
        mapping = session.options.columns
        self.columns = {c: mapping.get(c, c) for c in REQUIRED + OPTIONAL
                        if mapping.get(c, c) in names or optional_present and c in OPTIONAL}
        missing = [f"{c} (as {mapping[c]!r})" if c in mapping else c
                   for c in REQUIRED + tuple(mapping) if c not in self.columns]
        if missing:
            raise IngestError(
                f"{entry.label}: no column for {', '.join(missing)}; found columns "
                f"{', '.join(map(repr, names))}. Map them with --column NAME=SOURCE_COLUMN, e.g. "
                "--column sender=author --column sent_at=timestamp --column text=body")
        self.default_conversation = session.options.conversation or entry.name.rsplit(".", 1)[0]
        self.clocks = {}
        self.repeats = {}

    def message(self, row: dict, number: int) -> Iterator[Message]:
        absent = [self.columns[c] for c in REQUIRED if self.columns[c] not in row]
        if absent:
            self.session.bad(self.entry.label, number, f"no {', '.join(absent)} field")
            return
        get = {c: row.get(source) for c, source in self.columns.items()}.get
        text = get("text")
        if text is None or not str(text).strip():
            self.session.skip(NO_TEXT)
            return
        sender = get("sender")
        if sender is None or not str(sender).strip() or get("sent_at") in (None, ""):
            self.session.bad(self.entry.label, number, "empty sender or sent_at")
            return
        conversation = str(get("conversation_id") or self.default_conversation)
        platform = str(get("platform") or self.session.options.platform or DEFAULT_PLATFORM)
        if conversation not in self.clocks:
            self.clocks[conversation] = self.session.clock(f"{self.entry.label} ({conversation})")
        try:
            sent_at, when = self.clocks[conversation].instant(get("sent_at"))
        except ValueError as e:
            self.session.bad(self.entry.label, number, str(e))
            return
        sender = self.session.sender(str(sender))
        text = str(text).replace("\r\n", "\n")
        native, reply = get("message_id"), get("reply_to")
        if native not in (None, ""):
            mid = message_id(platform, conversation, native)
        else:
            repeats = self.repeats.setdefault(platform, Repeats(platform))
            mid = repeats.message_id(conversation, when, sender, text)
        yield Message(
            message_id=mid, conversation_id=conversation, sender=sender, sent_at=sent_at,
            text=text, channel=str(get("channel") or conversation),
            reply_to=message_id(platform, conversation, reply) if reply not in (None, "") else None,
            platform=platform)
