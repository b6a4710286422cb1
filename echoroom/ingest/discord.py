"""Discord channels as exported by DiscordChatExporter (Tyrrrz), in its JSON or CSV format.

JSON carries ids: the conversation is the channel id, a message's id is Discord's, and a reply
points at the message it references. Only messages of type ``Default`` and ``Reply`` are messages;
joins, pins, calls and thread notices count as system messages.

CSV (``AuthorID,Author,Date,Content,Attachments,Reactions``) has no message ids and no channel
column: the channel comes from the file name DiscordChatExporter gives it
("Guild - Category - channel [123456789].csv"), and ids are built from time, author and text.
Dates are ISO 8601 with an offset in current versions; older versions wrote local times such as
"15-Jan-24 09:05 AM", which are read in ``--timezone``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from echoroom.ingest.schema import Message, Repeats, message_id
from echoroom.ingest.session import NO_TEXT, SYSTEM, Session
from echoroom.ingest.source import Entry, MalformedJson

PLATFORM = "discord"
CSV_HEADER = ["AuthorID", "Author", "Date", "Content", "Attachments", "Reactions"]
_MESSAGE_TYPES = {"Default", "Reply"}
_LEGACY_DATES = ("%d-%b-%y %I:%M %p", "%m/%d/%Y %I:%M %p", "%d-%b-%y %H:%M", "%Y-%m-%d %H:%M:%S")
_CHANNEL_FILE = re.compile(r"^(?P<name>.*?)\s*\[(?P<id>\d+)\]$")


def read(entry: Entry, session: Session) -> Iterator[Message]:
    head = entry.head(4096).decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if head.startswith("{"):
        yield from _read_json(entry, session)
    else:
        yield from _read_csv(entry, session)


def _read_json(entry: Entry, session: Session) -> Iterator[Message]:
    # DiscordChatExporter writes guild and channel before messages, so they are known in time.
    try:
        with entry.json() as doc:
            yield from _walk_json(doc, entry, session)
    except MalformedJson as e:
        session.bad(entry.label, e.line, f"{e.problem}; the rest of this file was not read")


def _walk_json(doc, entry: Entry, session: Session) -> Iterator[Message]:
    header = {}
    for key, pos in doc.object(0):
        if key != "messages":
            header[key] = doc.value(pos)
            continue
        channel_info = header.get("channel") or {}
        if "id" not in channel_info:
            session.bad(entry.label, doc.line(pos), "no channel id before the messages: not "
                        "a DiscordChatExporter JSON export?")
            return
        conversation = f"{PLATFORM}:{channel_info['id']}"
        guild = (header.get("guild") or {}).get("name")
        channel = " / ".join(filter(None, [guild, channel_info.get("category"),
                                            "#" + str(channel_info.get("name", ""))]))
        clock = session.clock(entry.label)
        yield from session.records(entry.label, doc.items(pos), _json_message,
                                   conversation, channel, clock, session)


def _json_message(item, conversation, channel, clock, session) -> Message | None:
    if item["type"] not in _MESSAGE_TYPES:
        session.skip(SYSTEM)
        return None
    text = item.get("content") or ""
    if not text.strip():
        session.skip(NO_TEXT)
        return None
    author = item["author"]
    sent_at, _ = clock.instant(item["timestamp"])
    reply_to = None
    reference = item.get("reference") or {}
    if reference.get("messageId"):
        target = f"{PLATFORM}:{reference.get('channelId') or conversation.split(':', 1)[1]}"
        reply_to = message_id(PLATFORM, target, reference["messageId"])
    return Message(
        message_id=message_id(PLATFORM, conversation, item["id"]), conversation_id=conversation,
        sender=session.sender(author.get("nickname") or author["name"]), sent_at=sent_at,
        text=text, channel=channel, reply_to=reply_to, platform=PLATFORM)


def _read_csv(entry: Entry, session: Session) -> Iterator[Message]:
    stem = entry.name.rsplit(".", 1)[0]
    match = _CHANNEL_FILE.match(stem)
    channel = session.options.conversation or (match["name"] if match else stem)
    conversation = f"{PLATFORM}:{match['id'] if match else channel}"
    clock = session.clock(entry.label)
    repeats = Repeats(PLATFORM)
    rows = entry.rows(session.bad)
    _, header = next(rows, (1, None))
    if header != CSV_HEADER:
        session.bad(entry.label, 1, f"expected the DiscordChatExporter CSV header "
                    f"{','.join(CSV_HEADER)}, found {','.join(header or [])!r}")
        return
    for start, row in rows:
        if len(row) != len(CSV_HEADER):
            session.bad(entry.label, start, f"expected {len(CSV_HEADER)} fields, found "
                        f"{len(row)}")
            continue
        author_id, author, date, content, attachments, _ = row
        content = content.replace("\r\n", "\n")  # a CRLF file's line breaks in a field
        if not content.strip():
            session.skip(NO_TEXT)
            continue
        try:
            sent_at, when = clock.instant(_legacy(date))
        except ValueError as e:
            session.bad(entry.label, start, str(e))
            continue
        # The author id (stable across renames) keys the id; keyed like a name when
        # pseudonymising, or the id would let anyone confirm who wrote what.
        yield Message(
            message_id=repeats.message_id(conversation, when, session.sender(author_id),
                                          content),
            conversation_id=conversation, sender=session.sender(author), sent_at=sent_at,
            text=content,
            channel=channel, reply_to=None, platform=PLATFORM)


def _legacy(date: str) -> str | datetime:
    """Older DiscordChatExporter versions wrote dates in a fixed local format, not ISO."""
    for layout in _LEGACY_DATES:
        try:
            return datetime.strptime(date.strip(), layout)
        except ValueError:
            pass
    return date
