"""Where export bytes come from (plain files, folders, zip archives) and how they are read.

Text is UTF-8; a leading byte-order mark is dropped. Lines are split on ``\\n`` only (``\\r`` is
trimmed), never on the Unicode line separators that ``str.splitlines`` also honours, because those
occur inside chat messages.

One decoding policy for every text format: bytes that are not UTF-8 are decoded as escapes
(``surrogateescape``), and a record (a line, a CSV row, a JSON array element) holding one is reported
through ``Session.bad`` at its line, never raised as a ``UnicodeDecodeError`` nor written.

JSON documents are held as text and decoded one value at a time (``JsonDocument``): a 500 MB
Telegram export costs about its own size in memory rather than the many times more a full
``json.load`` tree takes, and every record knows the line it starts on for error messages.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from echoroom.ingest.errors import IngestError

_BOM = "\ufeff"
_ESCAPED = re.compile("[\udc80-\udcff]")  # a byte that is not UTF-8, as surrogateescape decodes it
_WS = re.compile(r"\s*")
_decoder = json.JSONDecoder()


def expand(patterns: Iterable[str]) -> list[str]:
    """Export paths as given, and globs (``**`` included) as their matches, sorted; each path once.
    Quoted globs reach us unexpanded from cron and config files, so they are expanded here."""
    found: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else \
            [pattern] if Path(pattern).exists() else []
        if not matches:
            raise IngestError(f"{pattern} matches no file or folder")
        found += [m for m in matches if m not in found]
    return found


@dataclass(frozen=True)
class Entry:
    """One file: on disk (``member`` None) or inside the zip at ``path``."""
    path: Path
    member: str | None = None

    @property
    def label(self) -> str:
        return f"{self.path}:{self.member}" if self.member else str(self.path)

    @property
    def name(self) -> str:
        return PurePosixPath(self.member).name if self.member else self.path.name

    @contextmanager
    def open(self) -> Iterator[io.BufferedIOBase]:
        if self.member is None:
            with open(self.path, "rb") as f:
                yield f
        else:
            with zipfile.ZipFile(self.path) as z, z.open(self.member) as f:
                yield f

    def head(self, size: int = 65536) -> bytes:
        with self.open() as f:
            return f.read(size)

    def lines(self, bad: Callable[[str, int, str], None] | None = None) -> Iterator[tuple[int, str]]:
        """(line number, text) pairs. A line holding bytes that are not UTF-8 goes to ``bad``; with no
        ``bad`` such bytes are replaced (for sniffing)."""
        with self.open() as f:
            for number, raw in enumerate(f, 1):
                try:  # the common case costs one strict decode, nothing more
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    if bad is not None:
                        bad(self.label, number, not_utf8(raw.decode("utf-8", errors="surrogateescape")))
                        continue
                    line = raw.decode("utf-8", errors="replace")
                if number == 1:
                    line = line.removeprefix(_BOM)
                yield number, line.rstrip("\n").rstrip("\r")

    def rows(self, bad: Callable[[str, int, str], None], delimiters: str = ",") -> Iterator[tuple[int, list[str]]]:
        """(line the record starts on, fields) of a CSV file, the header first; the delimiter is the
        one of ``delimiters`` found most often on the first line. A record holding bytes that are not
        UTF-8 goes to ``bad``; such a header stops the file, since no column could be named."""
        with self.open() as f:
            text = io.TextIOWrapper(f, encoding="utf-8-sig", errors="surrogateescape", newline="")
            first = text.readline()
            text.seek(0)
            # newline='' keeps line breaks inside quoted fields for the csv module
            records = csv.reader(text, delimiter=max(delimiters, key=first.count))
            line = 1
            for row in records:
                start, line = line, records.line_num + 1
                problem = not_utf8("".join(row))
                if problem and start == 1:
                    raise IngestError(f"{self.label}:1: header line is {problem}")
                if problem:
                    bad(self.label, start, problem)
                    continue
                yield start, row

    def json(self) -> JsonDocument:
        with self.open() as f:
            data = f.read()
        try:
            return JsonDocument(data.decode("utf-8-sig"))
        except UnicodeDecodeError:
            return JsonDocument(data.decode("utf-8-sig", errors="surrogateescape"), escaped=True)


def not_utf8(text: str) -> str | None:
    """What is wrong with ``text`` decoded by this module when it held bytes that are not UTF-8."""
    found = _ESCAPED.search(text)
    if found is None:
        return None
    return (f"not UTF-8 text (byte 0x{ord(found[0]) - 0xDC00:02x}); export the chat again as UTF-8 "
            "or convert the file, e.g. iconv -f WINDOWS-1252 -t UTF-8")


class Tree:
    """A folder or zip archive of exported files, named by posix paths relative to its root.

    A single top folder that holds everything (``export/channels.json`` ...) is looked through,
    and macOS ``__MACOSX`` resource forks are ignored.
    """

    def __init__(self, path: Path):
        self.path = path
        if path.is_dir():
            names = {p.relative_to(path).as_posix(): Entry(p)
                     for p in sorted(path.rglob("*")) if p.is_file()}
        else:
            with zipfile.ZipFile(path) as z:
                names = {n: Entry(path, n) for n in sorted(z.namelist())
                         if not n.endswith("/") and not n.startswith("__MACOSX/")}
        tops = {n.split("/", 1)[0] for n in names}
        if len(tops) == 1 and all("/" in n for n in names):
            names = {n.split("/", 1)[1]: e for n, e in names.items()}
        self.entries: dict[str, Entry] = names


class MalformedJson(Exception):
    def __init__(self, line: int, problem: str):
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


class JsonDocument:
    """Walks a JSON text lazily. ``object(pos)`` yields ``(key, value_pos)`` and ``array(pos)``
    yields ``value_pos``; for each, the caller may decode the value with ``value``, walk into it
    with ``object``/``array`` (to the end), or ignore it, in which case it is skipped."""

    def __init__(self, text: str, escaped: bool = False):
        self.text = text
        self.end = 0
        self.escaped = escaped  # whether the text holds bytes that are not UTF-8, as escapes
        self._line_pos, self._line = 0, 1

    def line(self, pos: int) -> int:
        if pos < self._line_pos:
            self._line_pos, self._line = 0, 1
        self._line += self.text.count("\n", self._line_pos, pos)
        self._line_pos = pos
        return self._line

    def value(self, pos: int, check: bool = True):
        """The value at ``pos``; one holding bytes that are not UTF-8 raises ``MalformedJson`` at
        their line (unless not ``check``ed: a value skipped), after which the walk goes on past it."""
        start = _WS.match(self.text, pos).end()
        try:
            obj, self.end = _decoder.raw_decode(self.text, start)
        except json.JSONDecodeError as e:
            problem = self.escaped and not_utf8(self.text[e.pos:e.pos + 1])
            raise MalformedJson(e.lineno, problem or f"invalid JSON: {e.msg}") from None
        if check and self.escaped and (found := _ESCAPED.search(self.text, start, self.end)):
            raise MalformedJson(self.line(found.start()), not_utf8(found[0]))
        return obj

    def object(self, pos: int) -> Iterator[tuple[str, int]]:
        return self._walk(pos, "{", "}")

    def array(self, pos: int) -> Iterator[int]:
        return self._walk(pos, "[", "]")

    def items(self, pos: int) -> Iterator[tuple[int, object]]:
        """(line, decoded value) for each element of the array at ``pos``; an element that cannot be
        decoded but can be stepped over (bytes that are not UTF-8) is given as its ``MalformedJson``."""
        for vpos in self.array(pos):
            line = self.line(vpos)
            try:
                yield line, self.value(vpos)
            except MalformedJson as e:
                if self.end <= vpos:  # invalid JSON: the walk cannot go on
                    raise
                yield line, e

    def _walk(self, pos, opening, closing):
        pos = self._expect(pos, opening)
        if self.text.startswith(closing, _WS.match(self.text, pos).end()):
            self.end = _WS.match(self.text, pos).end() + 1
            return
        while True:
            if opening == "{":
                key = self.value(pos)
                if not isinstance(key, str):
                    raise MalformedJson(self.line(pos), "invalid JSON: object key is not a string")
                pos = self._expect(self.end, ":")
            vpos = _WS.match(self.text, pos).end()
            self.end = vpos
            yield (key, vpos) if opening == "{" else vpos
            if self.end <= vpos:
                self.value(vpos, check=False)  # the caller ignored it
            pos = _WS.match(self.text, self.end).end()
            if self.text.startswith(",", pos):
                pos += 1
            elif self.text.startswith(closing, pos):
                self.end = pos + 1
                return
            else:
                raise MalformedJson(self.line(pos), f"invalid JSON: expected ',' or '{closing}'")

    def _expect(self, pos: int, char: str) -> int:
        pos = _WS.match(self.text, pos).end()
        if not self.text.startswith(char, pos):
            raise MalformedJson(self.line(pos), f"invalid JSON: expected '{char}'")
        return pos + 1
