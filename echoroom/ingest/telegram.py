"""Telegram Desktop "Export chat history" / "Export Telegram data" JSON (``result.json``).

A single-chat export is one object with ``name``, ``type``, ``id`` and ``messages``; a full export
holds chats under ``chats.list`` and ``left_chats.list``. Message ids are numbered per chat, so the
conversation is the chat id; a single chat exported without an ``id`` before its messages (older
and third-party exporters) is named by ``--conversation``, else its ``name``, else the folder.
``text`` is a string, or a list of plain strings and entity objects
(``{"type": "bold", "text": "..."}``) that are joined back into the text.

Times: ``date_unixtime`` (exports since 2022) is exact; older exports have only ``date``, the
exporting computer's local time, read in ``--timezone`` (default: the local zone). Service messages
(``"type": "service"`` or an ``action``: joins, pins, calls, title changes) are counted as system
messages; a message with media and no caption has no text. The file is read incrementally.
"""

from __future__ import annotations

from collections.abc import Iterator

from echoroom.ingest.clock import from_unix
from echoroom.ingest.schema import Message, message_id
from echoroom.ingest.session import NO_TEXT, SYSTEM, Session
from echoroom.ingest.source import Entry, JsonDocument, MalformedJson

PLATFORM = "telegram"
_CHAT_FIELDS = ("name", "type", "id")


def read(entry: Entry, session: Session) -> Iterator[Message]:
    try:
        with entry.json() as doc:
            yield from _walk(doc, 0, entry, session)
    except MalformedJson as e:
        session.bad(entry.label, e.line, f"{e.problem}; the rest of this file was not read")


def _walk(doc: JsonDocument, pos: int, entry: Entry, session: Session) -> Iterator[Message]:
    """One chat object, or the full export's top object (whose chat lists are walked into)."""
    chat = {}
    for key, vpos in doc.object(pos):
        if key in ("chats", "left_chats"):
            for list_key, list_pos in doc.object(vpos):
                if list_key == "list":
                    for chat_pos in doc.array(list_pos):
                        yield from _walk(doc, chat_pos, entry, session)
        elif key in _CHAT_FIELDS:
            chat[key] = doc.value(vpos)
        elif key == "messages":
            if "id" in chat:
                conversation = f"{PLATFORM}:{chat['id']}"
            else:
                conversation = f"{PLATFORM}:{_unnumbered(chat, entry, session, pos == 0)}"
            name = chat.get("name") or chat.get("type") or conversation.split(":", 1)[1]
            clock = session.clock(f"{entry.label} (chat {name})")
            yield from session.records(entry.label, doc.items(vpos), _message,
                                       conversation, name, clock, session)


def _message(item: dict, conversation: str, chat: str, clock, session: Session) -> Message | None:
    if item.get("type", "message") != "message" or "action" in item:
        session.skip(SYSTEM)
        return None
    text = _text(item.get("text", ""))
    if not text.strip():
        session.skip(NO_TEXT)
        return None
    if "date_unixtime" in item:
        sent_at = from_unix(str(item["date_unixtime"]))
    else:
        sent_at, _ = clock.instant(item["date"])
    sender = item.get("from") or item.get("from_id") or "(deleted account)"
    reply = item.get("reply_to_message_id")
    return Message(
        message_id=message_id(PLATFORM, conversation, item["id"]), conversation_id=conversation,
        sender=session.sender(sender), sent_at=sent_at, text=text, channel=chat,
        reply_to=message_id(PLATFORM, conversation, reply) if reply is not None else None,
        platform=PLATFORM)


def _unnumbered(chat: dict, entry: Entry, session: Session, single: bool) -> str:
    """A conversation name for a chat without an id: the option (for a single-chat export), the
    chat's name, the folder."""
    if single and session.options.conversation:
        return session.options.conversation
    if chat.get("name"):
        return str(chat["name"])
    folder = entry.path.parent.name if entry.member is None else entry.path.stem
    return folder or entry.name


def _text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(part if isinstance(part, str) else str(part.get("text", ""))
                       for part in value)
    raise ValueError(f"text is neither a string nor a list of entities: {value!r}")
