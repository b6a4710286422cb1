"""WhatsApp "Export chat" files: the ``.txt`` and the ``.zip`` it is shared in, Android and iOS.

A message starts with a header line and runs until the next one; the header layouts seen are::

    Android  15/01/2024, 09:05 - Sender: text          dd.mm.yy, HH:MM - ...   1/15/24, 9:05 AM - ...
    iOS      [15/01/2024, 09:05:12] Sender: text       [1/15/24, 9:05:12 AM] ...

Dates are day-first or month-first by the phone's locale and the file does not say which: a day
above 12 anywhere decides; otherwise the order under which the dates run forward is taken, and
day-first on a tie (``date_order`` overrides). Times are local wall-clock times, so a timezone is
needed (see ``clock``). Lines that are not headers continue the message above them.

Written down but not messages, each counted under its reason: system notices (Android: no
``Sender:``; iOS: text that starts with U+200E, e.g. "‎Messages and calls are end-to-end
encrypted"), media placeholders (``<Media omitted>``, ``‎image omitted``, ``<attached: ...>``) and
deleted messages. Direction marks (U+200E/F, U+202A-E, U+2066-9) are removed from senders and text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from echoroom.ingest.schema import Message, Repeats
from echoroom.ingest.session import DELETED, NO_TEXT, SYSTEM, Session
from echoroom.ingest.source import Entry

PLATFORM = "whatsapp"
_HEADER = re.compile(
    r"^(?P<bracket>\[)?(?P<date>\d{1,4}[./-]\d{1,2}[./-]\d{1,4})[,.]?\s"
    r"(?P<time>\d{1,2}[:.]\d{2}(?:[:.]\d{2})?)"
    r"(?:\s?(?P<ampm>[AaPp]\.?\s?[Mm]\.?))?"
    r"(?(bracket)\]\s|\s[-\u2013]\s)(?P<rest>.*)$")
_MARK_CHARS = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
_MARKS = re.compile(f"[{_MARK_CHARS}]")
_MEDIA = re.compile(r"<Media omitted>|<attached: [^>]*>|(?:.* )?(?:image|video|audio|sticker|GIF"
                    r"|document|Contact card) omitted|null", re.IGNORECASE)
_DELETED = re.compile(r"(?:This message was deleted|You deleted this message)\.?")
_EDITED = re.compile(r"\s*<This message was edited>$")
_CHAT_FILE = re.compile(r"^WhatsApp Chat (?:with|mit|avec|con|com|met|-)\s+(.+)$", re.IGNORECASE)


def looks_like(head: str) -> bool:
    """True when one of the first non-blank lines is a message header."""
    lines = [line for line in head.splitlines() if line.strip()][:3]
    return any(_header(line) for line in lines)


def _header(line: str):
    # Only marks before the header are dropped here: one after "Sender: " flags an iOS notice.
    return _HEADER.match(line.lstrip(_MARK_CHARS))


def chat_name(entry: Entry) -> str:
    """The chat's name from the export's file name ("WhatsApp Chat with Team.txt" -> "Team"); iOS
    names the text ``_chat.txt`` inside "WhatsApp Chat - Team.zip", so the zip is asked then."""
    stem = entry.name.rsplit(".", 1)[0]
    if stem.lower() in ("_chat", "chat") and entry.member is not None:
        stem = entry.path.stem
    match = _CHAT_FILE.match(stem)
    return match.group(1).strip() if match else stem


def read(entry: Entry, session: Session) -> Iterator[Message]:
    order = session.options.date_order or date_order(entry)
    chat = session.options.conversation or chat_name(entry)
    conversation = f"{PLATFORM}:{chat}"
    clock = session.clock(entry.label)
    repeats = Repeats(PLATFORM)
    current = None  # (header match, wall time, continuation lines); False: a bad header's lines

    def finish(header, wall, more) -> Iterator[Message]:
        sender, sep, text = header["rest"].partition(": ")
        if not sep or '"' in sender or "\u201c" in sender:
            session.skip(SYSTEM)  # Android notices have no "Sender: "
            return
        text = "\n".join([text, *more])
        ios_notice = header["bracket"] is not None and text.startswith("\u200e")
        text = _EDITED.sub("", _MARKS.sub("", text)).strip()
        if _MEDIA.fullmatch(text):
            session.skip(NO_TEXT)
        elif _DELETED.fullmatch(text):
            session.skip(DELETED)
        elif ios_notice:
            session.skip(SYSTEM)
        elif not text:
            session.skip(NO_TEXT)
        else:
            sender = session.sender(_MARKS.sub("", sender).strip())
            yield Message(
                message_id=repeats.message_id(conversation, wall.isoformat(), sender, text),
                conversation_id=conversation, sender=sender, sent_at=clock.utc(wall), text=text,
                channel=chat, reply_to=None, platform=PLATFORM)

    for number, line in entry.lines(session.bad):
        header = _header(line)
        if header:
            if current:
                yield from finish(*current)
            wall = _wall_time(header, order)
            if wall is None:
                session.bad(entry.label, number, f"impossible date or time {header['date']} "
                            f"{header['time']} (read as {order}; see --date-order)")
                current = False
            else:
                current = (header, wall, [])
        elif current:
            current[2].append(line)
        elif current is None and line.strip():
            session.bad(entry.label, number, "text before the first message header: is this a "
                        "WhatsApp chat export?")
    if current:
        yield from finish(*current)


def _parts(header) -> tuple[bool, int, int, int]:
    """(year first?, the three numbers) of a header's date."""
    parts = re.split(r"[./-]", header["date"])
    return len(parts[0]) == 4, *map(int, parts)


def _wall_time(header, order: str) -> datetime | None:
    year_first, first, second, third = _parts(header)
    if year_first:
        year, month, day = first, second, third
    elif order == "mdy":
        month, day, year = first, second, third
    else:
        day, month, year = first, second, third
    if year < 100:
        year += 2000
    clock = [int(p) for p in re.split(r"[:.]", header["time"])]
    hour, minute, second_ = clock[0], clock[1], clock[2] if len(clock) > 2 else 0
    if header["ampm"]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if header["ampm"][0] in "Pp" else 0)
    try:
        return datetime(year, month, day, hour, minute, second_)
    except ValueError:
        return None


def date_order(entry: Entry) -> str:
    """'dmy' or 'mdy' (or 'ymd') for this file, from a first pass over its headers."""
    backwards = {"dmy": 0, "mdy": 0}
    previous = {"dmy": None, "mdy": None}
    for _, line in entry.lines():
        header = _header(line)
        if not header:
            continue
        year_first, first, second, third = _parts(header)
        if year_first:
            return "ymd"
        if first > 12:
            return "dmy"
        if second > 12:
            return "mdy"
        for order, (month, day) in (("dmy", (second, first)), ("mdy", (first, second))):
            key = (third, month, day)
            if previous[order] is not None and key < previous[order]:
                backwards[order] += 1
            previous[order] = key
    return "mdy" if backwards["mdy"] < backwards["dmy"] else "dmy"
