"""Where export bytes come from (plain files, folders, zip archives) and how they are read.

Text is UTF-8; a leading byte-order mark is dropped. Lines are split on ``\\n`` only (``\\r`` is
trimmed), never on the Unicode line separators that ``str.splitlines`` also honours, because those
occur inside chat messages.

One decoding policy for every text format: bytes that are not UTF-8 are decoded as escapes
(``surrogateescape``), and a record (a line, a CSV row, a JSON array element) holding one is reported
through ``Session.bad`` at its line, never raised as a ``UnicodeDecodeError`` nor written.

JSON documents are read incrementally and decoded one record at a time (``json_document``): memory
does not grow with the file, and every record knows the line it starts on for error messages.
"""

from __future__ import annotations

import csv
import glob
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from echoroom.ingest.errors import IngestError
from echoroom.ingest.json_document import JsonDocument, MalformedJson, not_utf8

__all__ = ["Entry", "JsonDocument", "MalformedJson", "Tree", "expand", "not_utf8"]
_BOM = "\ufeff"
# One line is read in at most this many bytes; the rest of a longer line is dropped (and reported).
MAX_LINE_BYTES = 1_000_000


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

    def lines(self, bad: Callable[[str, int, str], None] | None = None,
              cut: Callable[[str, int], None] | None = None) -> Iterator[tuple[int, str]]:
        """(line number, text) pairs. A line holding bytes that are not UTF-8 goes to ``bad``; with no
        ``bad`` such bytes are replaced (for sniffing). A line longer than ``MAX_LINE_BYTES`` is cut
        to that (at a character boundary) and reported to ``cut``: its rest is read and dropped."""
        with self.open() as f:
            for number, raw in enumerate(_bounded_lines(f), 1):
                if isinstance(raw, _Cut):
                    raw = raw.head
                    if cut is not None:
                        cut(self.label, number)
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

    @contextmanager
    def json(self) -> Iterator[JsonDocument]:
        """The file as a ``JsonDocument``, read incrementally while the context is open."""
        with self.open() as f:
            yield JsonDocument(f)


class _Cut:
    """The head of a line that was longer than ``MAX_LINE_BYTES``."""
    __slots__ = ("head",)

    def __init__(self, head: bytes):
        self.head = head


def _bounded_lines(f: io.BufferedIOBase) -> Iterator[bytes | _Cut]:
    """The lines of ``f``, each read in at most ``MAX_LINE_BYTES``: memory stays bounded whatever
    one line holds (a zip member can unpack one 400 MB line from a few hundred kB)."""
    while raw := f.readline(MAX_LINE_BYTES):
        if len(raw) < MAX_LINE_BYTES or raw.endswith(b"\n"):
            yield raw
            continue
        rest = f.readline(MAX_LINE_BYTES)
        if rest in (b"\n", b"\r\n", b""):  # exactly at the cap: nothing was cut
            yield raw + rest
            continue
        while rest and not rest.endswith(b"\n"):
            rest = f.readline(MAX_LINE_BYTES)
        # readline(n) of a zip member may return a little more than n: the cap is ours to keep.
        yield _Cut(_whole_characters(raw[:MAX_LINE_BYTES]) + b"\n")


def _whole_characters(raw: bytes) -> bytes:
    """``raw`` less a UTF-8 sequence cut off at its end (up to 3 bytes of a 4-byte character)."""
    for back in range(1, min(4, len(raw)) + 1):
        byte = raw[-back]
        if byte & 0xC0 != 0x80:  # the last sequence starts here
            need = 1 if byte < 0x80 else 2 if byte >> 5 == 6 else 3 if byte >> 4 == 14 else 4 if byte >> 3 == 30 else 1
            return raw if need <= back else raw[:-back]
    return raw


class Tree:
    """A folder or zip archive of exported files, named by posix paths relative to its root.

    A single top folder that holds everything (``export/channels.json`` ...) is looked through,
    and macOS ``__MACOSX`` resource forks are ignored. A member whose path leaves the export (a
    ``..`` step, an absolute path, a link to a file outside the folder) is never read: it is listed
    in ``outside``, as a label, for the reader to count and name.
    """

    def __init__(self, path: Path):
        self.path = path
        self.outside: list[str] = []
        if path.is_dir():
            root = path.resolve()
            names = {}
            for p in sorted(path.rglob("*")):
                if p.is_file() and root not in p.resolve().parents:
                    self.outside.append(str(p))
                elif p.is_file():
                    names[p.relative_to(path).as_posix()] = Entry(p)
        else:
            with zipfile.ZipFile(path) as z:
                members = [n for n in sorted(z.namelist())
                           if not n.endswith("/") and not n.startswith("__MACOSX/")]
            self.outside = [f"{path}:{n}" for n in members if _leaves(n)]
            names = {n: Entry(path, n) for n in members if not _leaves(n)}
        tops = {n.split("/", 1)[0] for n in names}
        if len(tops) == 1 and all("/" in n for n in names):
            names = {n.split("/", 1)[1]: e for n, e in names.items()}
        self.entries: dict[str, Entry] = names


def _leaves(member: str) -> bool:
    """Whether a zip member's path points outside the archive's root once unpacked: a ``..`` step
    anywhere (``general/../../x.json``), or an absolute or drive path (Windows tools write ``\\``)."""
    parts = member.replace("\\", "/").split("/")
    drive = len(parts[0]) == 2 and parts[0][1] == ":" and parts[0][0].isalpha()
    return ".." in parts or parts[0] == "" or drive
