"""WhatsApp "Export chat" files: the ``.txt`` and the ``.zip`` it is shared in, Android and iOS.

A message starts with a header line and runs until the next one; ``whatsapp_headers`` tells the
header shapes of every locale apart (Android ``15/01/2024, 09:05 - Sender: text``, iOS
``[15/01/2024, 09:05:12] Sender: text``, time first, year first, other digits and calendars).

Dates are day-first or month-first by the phone's locale and the file does not say which, so the
whole file is read once first: days above 12 decide (by majority, when a file mixes both, whose
minority then fails as impossible dates); otherwise the order under which the dates run forward is
taken, and day-first on a tie (``date_order`` overrides). The choice is reported in the summary.
Times are local wall-clock times, read in the run's zone (see ``clock``, ``zones``). Lines that are
not headers continue the message above them.

Written down but not messages, each counted under its reason: system notices (Android: no
``Sender:``; iOS: text that starts with U+200E, e.g. "‎Messages and calls are end-to-end
encrypted"; in any of 16 languages, ``whatsapp_notices``), media placeholders (``<Media omitted>``,
``‎image omitted``, ``<attached: ...>``) and deleted messages. Direction marks (U+200E/F, U+061C,
U+202A-E, U+2066-9) are removed from senders and text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from echoroom.ingest import whatsapp_notices as notices
from echoroom.ingest.schema import Message, Repeats
from echoroom.ingest.session import DELETED, MAX_MESSAGE_CHARS, NO_TEXT, SYSTEM, Session
from echoroom.ingest.source import Entry
from echoroom.ingest.whatsapp_headers import MARKS, Header, Headers

PLATFORM = "whatsapp"
# "WhatsApp Chat with Team", "Chat de WhatsApp con Team", "Conversa do WhatsApp com Team",
# "Discussion WhatsApp avec Team", "WhatsApp-chat met Team", "Чат WhatsApp с Team", ...
_CHAT_FILE = re.compile(r"^.*WhatsApp\S*(?:\s\S+)?\s(?:with|mit|avec|con|com|met|с|dengan|ile|-)\s+(.+)$",
                        re.IGNORECASE)
_CHAT_FILE_TR = re.compile(r"^(.+?) ile WhatsApp Sohbeti$", re.IGNORECASE)
_ORDER_NAMES = {"dmy": "day/month/year", "mdy": "month/day/year", "ymd": "year/month/day"}


def looks_like(head: str) -> bool:
    """True when one of the first non-blank lines is a message header."""
    lines = [line for line in head.splitlines() if line.strip()][:3]
    headers = Headers()
    return any(headers.parse(line) for line in lines)


def chat_name(entry: Entry) -> str:
    """The chat's name from the export's file name ("WhatsApp Chat with Team.txt" -> "Team"); iOS
    names the text ``_chat.txt`` inside "WhatsApp Chat - Team.zip", so the zip is asked then."""
    stem = entry.name.rsplit(".", 1)[0]
    if stem.lower() in ("_chat", "chat") and entry.member is not None:
        stem = entry.path.stem
    match = _CHAT_FILE_TR.match(stem) or _CHAT_FILE.match(stem)
    return match.group(1).strip() if match else stem


def read(entry: Entry, session: Session) -> Iterator[Message]:
    if session.options.date_order:
        order = session.options.date_order
    else:
        order, why = date_order(entry)
        session.note(f"{entry.label}: dates read as {_ORDER_NAMES[order]} ({why}; --date-order "
                     "to change)")
    chat = session.options.conversation or chat_name(entry)
    conversation = f"{PLATFORM}:{chat}"
    clock = session.clock(entry.label)
    repeats = Repeats(PLATFORM)
    headers = Headers()
    # [header, wall time, continuation lines, its line number, characters it may still take, cut?];
    # False: a bad header's lines
    current = None
    cut_lines: list[int] = []

    def finish(header: Header, wall: datetime, more: list[str], start: int, room: int,
               cut: bool) -> Iterator[Message]:
        sender, sep, text = header.rest.partition(": ")
        if not sep or any(q in sender for q in notices.QUOTES):
            session.skip(SYSTEM)  # Android notices have no "Sender: "; a quoted subject may
            return
        text = "\n".join([text, *more])
        if cut or len(text) > MAX_MESSAGE_CHARS:
            text = text[:MAX_MESSAGE_CHARS]
            session.cut(entry.label, start)
        ios_notice = header.bracket and text.startswith("\u200e")
        text = notices.EDITED.sub("", MARKS.sub("", text)).strip()
        sender = MARKS.sub("", sender).strip()
        if notices.MEDIA.fullmatch(text):
            session.skip(NO_TEXT)
        elif notices.DELETED.fullmatch(text):
            session.skip(DELETED)
        elif (ios_notice or notices.NOTICE.match(text) or notices.CALL.fullmatch(text)
              or (sender == chat and notices.MEMBER.match(text))):
            session.skip(SYSTEM)  # an iOS group's notices come from the group itself
        elif not text:
            session.skip(NO_TEXT)
        else:
            sender = session.sender(sender)
            yield Message(
                message_id=repeats.message_id(conversation, wall.isoformat(), sender, text),
                conversation_id=conversation, sender=sender, sent_at=clock.utc(wall), text=text,
                channel=chat, reply_to=None, platform=PLATFORM)

    for number, line in entry.lines(session.bad, lambda label, n: cut_lines.append(n)):
        was_cut = number in cut_lines
        cut_lines.clear()
        header = headers.parse(line)
        if header:
            if current:
                yield from finish(*current)
            wall = header.wall(order)
            if wall is None:
                session.bad(entry.label, number, f"impossible date or time {header.date} "
                            f"{header.time} (read as {_ORDER_NAMES[order]}; see --date-order)")
                current = False
            else:
                _note_calendar(header, entry, session)
                current = [header, wall, [], number, MAX_MESSAGE_CHARS, was_cut]
        elif current:
            if current[4] > 0:  # past the cap a message's lines are counted, not kept
                current[2].append(line[:current[4]])
            current[4] -= len(line) + 1
            current[5] = current[5] or current[4] < 0 or was_cut
        elif current is None and line.strip():
            session.bad(entry.label, number, "text before the first message header: is this a "
                        "WhatsApp chat export?")
    if current:
        yield from finish(*current)


def _note_calendar(header: Header, entry: Entry, session: Session) -> None:
    if header.era:
        session.note(f"{entry.label}: Japanese era years read as Gregorian years")
    elif header.buddhist:
        session.note(f"{entry.label}: Buddhist calendar years (BE) read as year - 543")
    elif header.year_first and 1300 <= header.numbers[0] < 1500:
        session.note(f"{entry.label}: Solar Hijri (Persian calendar) dates read as Gregorian dates")


def date_order(entry: Entry) -> tuple[str, str]:
    """('dmy', 'mdy' or 'ymd', why) for this file, from a first pass over all its headers."""
    headers = Headers()
    votes = {"dmy": [], "mdy": []}       # lines where a day above 12 decides
    backwards = {"dmy": 0, "mdy": 0}     # how often the dates would run backwards
    previous = {"dmy": None, "mdy": None}
    for number, line in entry.lines():
        header = headers.parse(line)
        if not header:
            continue
        if header.year_first:
            return "ymd", "the year comes first"
        first, second, third = header.numbers
        if first > 12 >= second:
            votes["dmy"].append(number)
        elif second > 12 >= first:
            votes["mdy"].append(number)
        for order, (month, day) in (("dmy", (second, first)), ("mdy", (first, second))):
            key = (third, month, day)
            if previous[order] is not None and key < previous[order]:
                backwards[order] += 1
            previous[order] = key
    if votes["dmy"] or votes["mdy"]:
        order = max(votes, key=lambda o: len(votes[o]))
        other = "mdy" if order == "dmy" else "dmy"
        place = "first" if order == "dmy" else "second"
        why = f"a day above 12 in the {place} place on line {votes[order][0]}"
        if votes[other]:
            why += (f"; but {len(votes[other])} line(s) read the other way, first line "
                    f"{votes[other][0]}, and will not parse")
        return order, why
    if backwards["mdy"] < backwards["dmy"]:
        return "mdy", "no day above 12; the dates run forward read month first"
    if backwards["dmy"] < backwards["mdy"]:
        return "dmy", "no day above 12; the dates run forward read day first"
    return "dmy", "no day above 12 and either order runs forward: day first assumed"
