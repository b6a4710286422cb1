"""JSON exports read incrementally: one record at a time from a sliding window of the file.

Discord and Telegram exports of big servers and chats reach gigabytes, so a document is never held
whole: ``JsonDocument`` reads the file in chunks, walks its objects and arrays with the caller, and
forgets the text behind the record being read. Each record is decoded by the standard library's C
decoder (``json.JSONDecoder.raw_decode``), so memory is one chunk plus the largest single record,
whatever the file's size (a 256 KiB chunk: a few MB at most, as a string with emoji in it takes
four bytes a character).

Why not ``ijson`` (the usual choice, and docs/STYLE's): its events carry no position, and every
error this package reports names ``FILE:LINE`` (tests depend on it); it also stops at the first
byte that is not UTF-8, where this reader reports that record and goes on to the next.

The walk is the caller's: ``object(pos)`` yields ``(key, value_pos)`` and ``array(pos)`` yields
``value_pos``; for each, the caller may decode the value with ``value``, walk into it with
``object``/``array`` (to the end), or ignore it, in which case it is skipped (piece by piece, so an
ignored array of a million messages costs no more memory than a read one).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import BinaryIO

_ESCAPED = re.compile("[\udc80-\udcff]")  # a byte that is not UTF-8, as surrogateescape decodes it
_WS = re.compile(r"\s*")
_decoder = json.JSONDecoder()
# A decode error this close to the end of the window may be the window's end, not the JSON's: a
# literal, number or \\u escape cut in half. Read on and try again before calling it invalid.
_CUT_MARGIN = 16


def not_utf8(text: str) -> str | None:
    """What is wrong with ``text`` decoded by this package when it held bytes that are not UTF-8."""
    found = _ESCAPED.search(text)
    if found is None:
        return None
    return (f"not UTF-8 text (byte 0x{ord(found[0]) - 0xDC00:02x}); export the chat again as UTF-8 "
            "or convert the file, e.g. iconv -f WINDOWS-1252 -t UTF-8")


class MalformedJson(Exception):
    def __init__(self, line: int, problem: str):
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


class JsonDocument:
    """A JSON file walked lazily; positions are character offsets from the start of the file."""

    def __init__(self, stream: BinaryIO, chunk_bytes: int = 1 << 18):
        self._stream = stream
        self._chunk = chunk_bytes
        self._utf8 = codecs.getincrementaldecoder("utf-8-sig")(errors="surrogateescape")
        self.text = ""          # the window: the file's text from ``base`` on
        self.base = 0
        self.eof = False
        self.end = 0            # where the last value decoded or walked ended
        self.escaped = False    # whether the text read so far held bytes that are not UTF-8
        self._line_pos, self._line = 0, 1

    # -- the window -------------------------------------------------------------------------------

    def _more(self, keep: int) -> None:
        """Forget the text before ``keep`` and read at least one more chunk (doubling with the
        window, so a record far larger than a chunk is re-decoded a logarithmic number of times)."""
        if keep > self._line_pos:
            self.line(keep)
        piece, data = "", b"."
        while not piece and data:  # a chunk may end inside a character: read until one is whole
            data = self._stream.read(max(self._chunk, len(self.text) - (keep - self.base)))
            piece = self._utf8.decode(data, final=not data)
        self.eof = not data
        if not self.escaped and _ESCAPED.search(piece):
            self.escaped = True
        # One new string: text with emoji takes 4 bytes a character, so copies add up.
        self.text = self.text[keep - self.base:] + piece
        self.base = keep

    def _skip_ws(self, pos: int) -> int:
        while True:
            end = self.base + _WS.match(self.text, pos - self.base).end()
            if end < self.base + len(self.text) or self.eof:
                return end
            self._more(end)
            pos = end

    def _at(self, pos: int, char: str) -> bool:
        """Whether ``char`` is at ``pos`` (a position after skipped whitespace, so in the window)."""
        if pos >= self.base + len(self.text) and not self.eof:
            self._more(pos)
        return self.text.startswith(char, pos - self.base)

    def line(self, pos: int) -> int:
        """The line ``pos`` is on; ``pos`` must not lie before the record being read."""
        if pos >= self._line_pos:
            self._line += self.text.count("\n", self._line_pos - self.base, pos - self.base)
        else:
            self._line -= self.text.count("\n", pos - self.base, self._line_pos - self.base)
        self._line_pos = pos
        return self._line

    # -- values -----------------------------------------------------------------------------------

    def value(self, pos: int, check: bool = True):
        """The value at ``pos``; one holding bytes that are not UTF-8 raises ``MalformedJson`` at
        their line (unless not ``check``ed: a value skipped), after which the walk goes on past it."""
        start = self._skip_ws(pos)
        while True:
            offset = start - self.base
            try:
                obj, end = _decoder.raw_decode(self.text, offset)
            except json.JSONDecodeError as e:
                if not self.eof and (e.pos >= len(self.text) - _CUT_MARGIN
                                     or e.msg.startswith("Unterminated")):
                    self._more(start)
                    continue
                problem = self.escaped and not_utf8(self.text[e.pos:e.pos + 1])
                raise MalformedJson(self.line(self.base + e.pos),
                                    problem or f"invalid JSON: {e.msg}") from None
            # "-15000000000." decodes as a number that goes on in the next chunk ("0"): a value
            # ending near the window's end is decoded again with more text behind it.
            if end > len(self.text) - _CUT_MARGIN and not self.eof:
                self._more(start)
                continue
            break
        self.end = self.base + end
        if check and self.escaped and (found := _ESCAPED.search(self.text, offset, end)):
            raise MalformedJson(self.line(self.base + found.start()), not_utf8(found[0]))
        return obj

    def skip(self, pos: int) -> None:
        """Step over the value at ``pos`` without holding all of it: containers piece by piece."""
        pos = self._skip_ws(pos)
        if self._at(pos, "{"):
            for _ in self.object(pos):
                pass
        elif self._at(pos, "["):
            for _ in self.array(pos):
                pass
        else:
            self.value(pos, check=False)

    def object(self, pos: int) -> Iterator[tuple[str, int]]:
        return self._walk(pos, "{", "}")

    def array(self, pos: int) -> Iterator[int]:
        return self._walk(pos, "[", "]")

    def items(self, pos: int) -> Iterator[tuple[int, object]]:
        """(line, decoded value) for each element of the array at ``pos``; an element that cannot be
        decoded but can be stepped over (bytes that are not UTF-8) is given as its ``MalformedJson``."""
        for vpos in self.array(pos):
            line = self.line(self._skip_ws(vpos))
            try:
                yield line, self.value(vpos)
            except MalformedJson as e:
                if self.end <= vpos:  # invalid JSON: the walk cannot go on
                    raise
                yield line, e

    def _walk(self, pos, opening, closing):
        pos = self._expect(pos, opening)
        if self._at(self._skip_ws(pos), closing):
            self.end = self._skip_ws(pos) + 1
            return
        while True:
            if opening == "{":
                key = self.value(pos)
                if not isinstance(key, str):
                    raise MalformedJson(self.line(self._skip_ws(pos)),
                                        "invalid JSON: object key is not a string")
                pos = self._expect(self.end, ":")
            vpos = self._skip_ws(pos)
            self.end = vpos
            yield (key, vpos) if opening == "{" else vpos
            if self.end <= vpos:
                self.skip(vpos)  # the caller ignored it
            pos = self._skip_ws(self.end)
            if self._at(pos, ","):
                pos += 1
            elif self._at(pos, closing):
                self.end = pos + 1
                return
            else:
                raise MalformedJson(self.line(pos), f"invalid JSON: expected ',' or '{closing}'")

    def _expect(self, pos: int, char: str) -> int:
        pos = self._skip_ws(pos)
        if not self._at(pos, char):
            raise MalformedJson(self.line(pos), f"invalid JSON: expected '{char}'")
        return pos + 1
