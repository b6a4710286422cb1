"""The header that starts a WhatsApp message, told by trying the known shapes in turn.

A header is a date and a time (either first), framed Android-style (``DATE, TIME - ``) or iOS-style
(``[DATE, TIME] ``), then ``Sender: text``. What varies with the phone's language and region:

- digits: ASCII, Arabic-Indic (``١٨``) or Persian (``۱۸``); ``\\d`` and ``int`` read all of them;
- invisible direction marks (U+200E/F, U+061C, U+202A-E, U+2066-9) anywhere in the header;
- separators: ``/ . -`` between date parts (or ``. `` as in ``2022. 12. 14.``), ``,`` or the Arabic
  comma ``،`` (or nothing) between date and time, trailing dots after the date or the time;
- order: day, month or year first; CJK dates ``2022年12月14日`` / ``2022년 12월 14일``;
- 12-hour markers before or after the time: ``AM``, ``a. m.``, ``p.m.``, ``ص/م`` (Arabic),
  ``ق.ظ/ب.ظ`` (Persian), ``午前/午後``, ``오전/오후``, ``上午/下午``, ``SA/CH`` (Vietnamese),
  ``पूर्वाह्न/अपराह्न``;
- calendars: Buddhist years (``2565 BE``, or any year from 2400 on, which cannot be Gregorian yet)
  are year - 543; Japanese era years (``R4``/``令和4``, ``H31``/``平成31``, ``S64``/``昭和64``);
  Persian phones' Solar Hijri dates (year first, 1300-1499: ``۱۴۰۱/۹/۲۳`` is 14 December 2022).

``Headers`` tries the shape that matched last first, so a file costs one regex per line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

MARK_CHARS = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
MARKS = re.compile(f"[{MARK_CHARS}]")
_HEAD = 96  # a header, marks included, is shorter: marks are only looked for this far

_HALVES = {"ص": "am", "م": "pm", "午前": "am", "午後": "pm", "오전": "am", "오후": "pm", "上午": "am",
           "下午": "pm", "ق.ظ": "am", "ب.ظ": "pm", "पूर्वाह्न": "am", "अपराह्न": "pm", "SA": "am",
           "CH": "pm"}
_HALF = r"(?:[AaPp]\.?\s?[Mm]\.?|" + "|".join(re.escape(h) for h in _HALVES) + ")"
_TIME = (rf"(?:(?P<pre>{_HALF})\s?)?(?P<hour>\d{{1,2}})[:.](?P<minute>\d{{2}})"
         rf"(?:[:.](?P<second>\d{{2}}))?\.?(?:\s?(?P<post>{_HALF}))?")
_ERAS = {"令和": 2018, "R": 2018, "平成": 1988, "H": 1988, "昭和": 1925, "S": 1925}
_NUMERIC = (r"(?P<era>令和|平成|昭和|[RHS](?=\d))?(?P<a>\d{1,4})(?P<sep>[./-]|\.\s)(?P<b>\d{1,2})"
            r"(?P=sep)(?P<c>\d{1,4})\.?(?:\s?(?P<be>BE|พ\.ศ\.))?")
_CJK = (r"(?P<era>令和|平成|昭和)?(?P<a>\d{1,4})\s?[年년]\s?(?P<b>\d{1,2})\s?[月월]\s?(?P<c>\d{1,2})"
        r"\s?[日일]")
_JOIN = r"[,،]?\s"


def _shapes() -> list[re.Pattern]:
    shapes = []
    for date in (_NUMERIC, _CJK):
        for body in (date + _JOIN + _TIME, _TIME + _JOIN + date):
            shapes.append(rf"\[{body}\]\s?(?P<rest>.*)")            # iOS
            shapes.append(rf"{body}\s?[-\u2013]\s(?P<rest>.*)")     # Android
    shapes.append(rf"{_CJK}\s{_TIME},\s(?P<rest>.*)")               # Korean Android
    return [re.compile(s, re.DOTALL) for s in shapes]


SHAPES = _shapes()


@dataclass(frozen=True, slots=True)
class Header:
    bracket: bool                  # iOS-style
    date: str                      # as written, for messages
    time: str
    numbers: tuple[int, int, int]  # the date's numbers in the order written
    year_first: bool
    era: str | None                # a Japanese era, or None
    buddhist: bool
    hour: int
    minute: int
    second: int
    half: str | None               # "am", "pm" or None for a 24-hour clock
    rest: str                      # "Sender: text", marks as written

    def wall(self, order: str) -> datetime | None:
        """The wall-clock time, reading a year-last date as ``order`` ('dmy' or 'mdy'); None when
        no such date or time exists."""
        a, b, c = self.numbers
        if self.year_first:
            year, month, day = a, b, c
        elif order == "mdy":
            month, day, year = a, b, c
        else:
            day, month, year = a, b, c
        if self.era:
            year += _ERAS[self.era]
        elif self.year_first and 1300 <= year < 1500:
            if not (1 <= month <= 12 and 1 <= day <= (31 if month <= 6 else 30)):
                return None
            year, month, day = _from_solar_hijri(year, month, day)
        elif self.buddhist:
            year = (year + 2500 if year < 100 else year) - 543
        elif year < 100:
            year += 2000
        hour = self.hour
        if self.half:
            # 0 too: Spanish phones write "00:08 a. m." for 8 minutes past midnight.
            if hour > 12:
                return None
            hour = hour % 12 + (12 if self.half == "pm" else 0)
        try:
            return datetime(year, month, day, hour, self.minute, self.second)
        except ValueError:
            return None


class Headers:
    """Parses header lines, trying first the shape that matched the previous header."""

    def __init__(self):
        self._order = list(range(len(SHAPES)))

    def parse(self, line: str) -> Header | None:
        original, head, kept = line, line[:_HEAD], None
        if MARKS.search(head):
            kept = [i for i, c in enumerate(head) if c not in MARK_CHARS]
            line = MARKS.sub("", head) + line[_HEAD:]
        for n, index in enumerate(self._order):
            match = SHAPES[index].fullmatch(line)
            if match:
                if n:
                    self._order.insert(0, self._order.pop(n))
                rest = match["rest"]
                if kept is not None:  # the rest as written, marks included: an iOS notice has one
                    start = match.start("rest")
                    rest = original[kept[start] if start < len(kept) else
                                    start - len(kept) + _HEAD:]
                return _header(match, line, rest)
        return None


def _header(m: re.Match, line: str, rest: str) -> Header:
    era = m["era"]
    half = m["pre"] or m["post"]
    if half:
        half = _HALVES.get(half) or ("am" if half[0] in "Aa" else "pm")
    a = m["a"]
    numbers = (int(a), int(m["b"]), int(m["c"]))
    cjk = "sep" not in m.re.groupindex
    year_first = bool(era) or cjk or len(a) >= 3
    year = numbers[0] if year_first else numbers[2]
    be = not cjk and m["be"] is not None
    return Header(
        bracket=m.re.pattern.startswith(r"\["), date=line[m.start("a"):m.end("c")],
        time=line[m.start("hour"):m.end("second") if m["second"] else m.end("minute")],
        numbers=numbers, year_first=year_first, era=era, buddhist=not era and (be or year >= 2400),
        hour=int(m["hour"]), minute=int(m["minute"]), second=int(m["second"] or 0), half=half,
        rest=rest)


def _from_solar_hijri(jy: int, jm: int, jd: int) -> tuple[int, int, int]:
    """A Solar Hijri (Jalali) date as a Gregorian one, by the 33-year arithmetic rule that Iranian
    phones use (after jdf.scr.ir's jalali_to_gregorian)."""
    jy += 1595
    days = (-355668 + 365 * jy + (jy // 33) * 8 + ((jy % 33) + 3) // 4 + jd
            + ((jm - 1) * 31 if jm < 7 else (jm - 7) * 30 + 186))
    gy = 400 * (days // 146097)
    days %= 146097
    if days > 36524:
        days -= 1
        gy += 100 * (days // 36524)
        days %= 36524
        if days >= 365:
            days += 1
    gy += 4 * (days // 1461)
    days %= 1461
    if days > 365:
        gy += (days - 1) // 365
        days = (days - 1) % 365
    gd = days + 1
    leap = gy % 4 == 0 and gy % 100 != 0 or gy % 400 == 0
    for gm, length in enumerate((31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31), 1):
        if gd <= length:
            return gy, gm, gd
        gd -= length
    return gy, 12, 31  # not reached for a valid Jalali date
