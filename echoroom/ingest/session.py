"""One ingest run: its options, its error policy, its sender pseudonyms and its summary.

Every reader reports through a ``Session`` rather than printing or dropping: a record that is not a
message (a join notice, a photo without caption) is counted under a reason by ``skip``, and a record
that cannot be read is reported by ``bad`` with its file and line, which raises or counts per
``on_error``. So the summary accounts for every record the exports held.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from echoroom.ingest.clock import LocalClock
from echoroom.ingest.errors import IngestError
from echoroom.ingest.json_document import MalformedJson
from echoroom.ingest.schema import COLUMNS, Message
from echoroom.ingest.zones import Zone, chosen, zone

FORMATS = ("whatsapp", "discord", "telegram", "slack", "messenger", "instagram", "csv", "jsonl",
           "parquet")
DATE_ORDERS = ("dmy", "mdy", "ymd")

# Reasons a record is not written. A short fixed vocabulary, so summaries add up across formats.
SYSTEM = "system message"
NO_TEXT = "no text (media, sticker or embed)"
DELETED = "deleted message"
DUPLICATE = "duplicate of an earlier message"
MALFORMED = "malformed"
OUTSIDE = "files whose path leaves the export (a .. step, an absolute path or a link out), not read"

# A message longer than this is cut to it and counted (``Session.cut``): one message must not hold
# the memory of the whole ingest (a 400 MB message unpacks from a 0.8 MB zip). About 1 MB of text.
MAX_MESSAGE_CHARS = 1_000_000
_PROBLEMS_KEPT = 50  # all are counted; the first ones are kept verbatim for the summary


@dataclass(frozen=True)
class Options:
    format: str | None = None            # None: detect from content
    timezone: str | None = None          # IANA zone for sources without offsets; None: the machine's
    pseudonymize_key: bytes | None = field(default=None, repr=False)
    on_error: str = "stop"               # "stop" raises at the first malformed record; "skip" counts
    date_order: str | None = None        # WhatsApp dates: None detects dmy/mdy from the file
    conversation: str | None = None      # name for a WhatsApp chat or a table without that column
    columns: Mapping[str, str] = field(default_factory=dict)  # canonical name -> source column
    platform: str | None = None          # platform of CSV/JSONL/Parquet rows without that column
    batch_size: int = 10_000             # rows per Parquet row group; bounds writer memory

    def __post_init__(self):
        if self.format is not None and self.format not in FORMATS:
            raise IngestError(f"unknown format {self.format!r}; supported: {', '.join(FORMATS)}")
        if self.on_error not in ("stop", "skip"):
            raise IngestError(f"on_error must be 'stop' or 'skip', not {self.on_error!r}")
        if self.date_order is not None and self.date_order not in DATE_ORDERS:
            raise IngestError(f"date_order must be one of {', '.join(DATE_ORDERS)}, "
                              f"not {self.date_order!r}")
        unknown = sorted(set(self.columns) - set(COLUMNS))
        if unknown:
            raise IngestError(f"unknown corpus column(s) {', '.join(unknown)} in the column "
                              f"mapping; the corpus columns are {', '.join(COLUMNS)}")
        if self.pseudonymize_key is not None and not self.pseudonymize_key:
            raise IngestError("the pseudonymisation key is empty; set it to a long random secret")
        if self.batch_size < 1:
            raise IngestError(f"batch_size must be positive, not {self.batch_size}")
        if self.timezone is not None:
            zone(self.timezone)


def key_from_env(variable: str | None) -> bytes | None:
    """The pseudonymisation key held in the environment variable named ``variable`` (None: no
    key), read here so that the key itself never appears in a command line or a config file. The
    message goes after the option or config key that named the variable."""
    if not variable:
        return None
    key = os.environ.get(variable)
    if not key:
        raise IngestError(f"names {variable}, which is not set or empty in the environment; "
                          "export a long random secret in it")
    return key.encode("utf-8")


@dataclass
class Summary:
    written: int = 0
    skipped: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)   # the first malformed records, verbatim
    exports: list[tuple[str, str, int]] = field(default_factory=list)  # (path, format, written)
    notes: list[str] = field(default_factory=list)      # how ambiguous exports were read
    zone: Zone | None = None                       # set when local times were read
    cut: int = 0                                   # messages cut to MAX_MESSAGE_CHARS
    cut_where: list[str] = field(default_factory=list)  # the first of them, as FILE:LINE
    outside: list[str] = field(default_factory=list)    # the first files under OUTSIDE

    def __str__(self) -> str:
        lines = [f"{path} ({fmt}): {n} messages" for path, fmt, n in self.exports]
        lines.append(f"wrote {self.written} messages")
        if self.zone is not None:
            lines.append(self.zone.describe())
        lines.extend(self.notes)
        if self.cut:
            lines.append(f"cut {self.cut}: {self.cut_reason()}")
            lines.extend(f"  {w}" for w in self.cut_where)
        for reason, n in sorted(self.skipped.items()):
            lines.append(f"skipped {n}: {reason}")
            if reason == OUTSIDE:
                lines.extend(f"  {w}" for w in self.outside)
        lines.extend(f"  {p}" for p in self.problems)
        if self.skipped[MALFORMED] > len(self.problems):
            lines.append(f"  ... and {self.skipped[MALFORMED] - len(self.problems)} more")
        return "\n".join(lines)


    @staticmethod
    def cut_reason() -> str:
        return (f"messages longer than {MAX_MESSAGE_CHARS:,} characters (or one line over 1 MB), "
                "kept to that length")


class Session:
    def __init__(self, options: Options):
        self.options = options
        self.summary = Summary()
        self.zone = chosen(options.timezone)
        self._pseudonyms: dict[str, str] = {}

    def sender(self, name: str) -> str:
        """The name to store: the name itself, or its keyed pseudonym when a key is set."""
        key = self.options.pseudonymize_key
        if key is None:
            return name
        if name not in self._pseudonyms:
            # HMAC, not a bare hash: without the key nobody can confirm a guessed name.
            digest = hmac.new(key, name.encode("utf-8"), hashlib.sha256).hexdigest()
            self._pseudonyms[name] = "anon-" + digest[:16]
        return self._pseudonyms[name]

    def skip(self, reason: str) -> None:
        self.summary.skipped[reason] += 1

    def bad(self, where: str, line: int | None, problem: str) -> None:
        message = f"{where}:{line}: {problem}" if line else f"{where}: {problem}"
        if self.options.on_error == "stop":
            raise IngestError(f"{message} (use --on-error skip to skip such records and count "
                              "them in the summary)")
        self.summary.skipped[MALFORMED] += 1
        if len(self.summary.problems) < _PROBLEMS_KEPT:
            self.summary.problems.append(message)

    def refuse(self, labels: Iterable[str]) -> None:
        """Count files an archive or folder holds under a path outside it: skipped, whatever
        ``on_error`` says, since the rest of the export is sound (``source.Tree.outside``)."""
        for label in labels:
            self.summary.skipped[OUTSIDE] += 1
            if len(self.summary.outside) < _PROBLEMS_KEPT:
                self.summary.outside.append(label)

    def cut(self, where: str, line: int | None) -> None:
        """Count a message written cut to ``MAX_MESSAGE_CHARS``, starting at ``where:line``."""
        self.summary.cut += 1
        if len(self.summary.cut_where) < _PROBLEMS_KEPT:
            self.summary.cut_where.append(f"{where}:{line}" if line else where)

    def clock(self, where: str) -> LocalClock:
        return LocalClock(self.zone.info, where, self._zone_used)

    def _zone_used(self) -> None:
        self.summary.zone = self.zone

    def note(self, text: str) -> None:
        """Say how something the export left open was decided (a date order, a calendar)."""
        if text not in self.summary.notes:
            self.summary.notes.append(text)

    def records(self, label: str, items: Iterable[tuple[int, object]],
                build: Callable[..., Message | None], *args) -> Iterator[Message]:
        """The messages ``build(record, *args)`` makes of decoded JSON records, given as (line,
        record) pairs.

        A record missing a field or holding a value of the wrong type is reported by ``bad`` at its
        line; ``build`` returns None for a record it counted with ``skip``.
        """
        for line, item in items:
            if isinstance(item, MalformedJson):  # e.g. bytes that are not UTF-8 in this record
                self.bad(label, item.line, item.problem)
                continue
            try:
                message = build(item, *args)
            except (KeyError, TypeError, ValueError) as e:
                problem = f"missing field {e}" if isinstance(e, KeyError) else str(e)
                self.bad(label, line, f"unreadable message record: {problem}")
                continue
            if message is not None:
                yield message
