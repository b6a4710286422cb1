"""Where export bytes come from (plain files, folders, zip archives) and how they are read.

Text is UTF-8; a leading byte-order mark is dropped. Lines are split on ``\\n`` only (``\\r`` is
trimmed), never on the Unicode line separators that ``str.splitlines`` also honours, because those
occur inside chat messages.

JSON documents are held as text and decoded one value at a time (``JsonDocument``): a 500 MB
Telegram export costs about its own size in memory rather than the many times more a full
``json.load`` tree takes, and every record knows the line it starts on for error messages.
"""

from __future__ import annotations

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
        """(line number, text) pairs. Bytes that are not UTF-8 go to ``bad`` with the line; with no
        ``bad`` they are replaced (for sniffing)."""
        with self.open() as f:
            for number, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    if bad is not None:
                        bad(self.label, number, f"not UTF-8 text ({e.reason} at byte {e.start})")
                        continue
                    line = raw.decode("utf-8", errors="replace")
                if number == 1:
                    line = line.removeprefix(_BOM)
                yield number, line.rstrip("\n").rstrip("\r")

    @contextmanager
    def text_stream(self) -> Iterator[io.TextIOBase]:
        """The file as text, for the csv module (which needs ``newline=''`` to keep line breaks
        inside quoted fields)."""
        with self.open() as f:
            yield io.TextIOWrapper(f, encoding="utf-8-sig", newline="")

    def json(self) -> JsonDocument:
        with self.open() as f:
            data = f.read()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise MalformedJson(data.count(b"\n", 0, e.start) + 1,
                                f"not UTF-8 text ({e.reason})") from None
        return JsonDocument(text)


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

    def __init__(self, text: str):
        self.text = text
        self.end = 0
        self._line_pos, self._line = 0, 1

    def line(self, pos: int) -> int:
        if pos < self._line_pos:
            self._line_pos, self._line = 0, 1
        self._line += self.text.count("\n", self._line_pos, pos)
        self._line_pos = pos
        return self._line

    def value(self, pos: int):
        try:
            obj, self.end = _decoder.raw_decode(self.text, _WS.match(self.text, pos).end())
        except json.JSONDecodeError as e:
            raise MalformedJson(e.lineno, f"invalid JSON: {e.msg}") from None
        return obj

    def object(self, pos: int) -> Iterator[tuple[str, int]]:
        return self._walk(pos, "{", "}")

    def array(self, pos: int) -> Iterator[int]:
        return self._walk(pos, "[", "]")

    def items(self, pos: int) -> Iterator[tuple[int, object]]:
        """(line, decoded value) for each element of the array at ``pos``."""
        for vpos in self.array(pos):
            yield self.line(vpos), self.value(vpos)

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
                self.value(vpos)  # the caller ignored it
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
