"""Facebook Messenger and Instagram direct messages, from Meta's "Download your information" (JSON).

Both write one folder per conversation (``messages/inbox/<name>_<id>/``, also ``archived_threads``,
``filtered_threads``, ``message_requests``; Instagram under ``your_instagram_activity/messages``)
holding ``message_1.json``, ``message_2.json``, ...: an object with ``participants``, ``messages``
(newest first), ``title`` and ``thread_path``. A message has ``sender_name``, ``timestamp_ms`` (Unix
milliseconds: exact), and ``content`` and/or media: ``photos``, ``videos``, ``gifs``,
``audio_files``, ``files``, ``sticker``, ``share``.

Meta writes every string as its UTF-8 bytes escaped one by one as ``\\u00XX`` ("cafÃ©" for "café",
"ð\\x9f\\x98\\x82" for 😂); each string is repaired by reading it back as latin-1 bytes decoded as
UTF-8, and left alone when that fails (a string that was right already).

Not written, each counted: media without text and shares (links) as no text; calls, members
joining or leaving, and reaction notices ("Reacted ❤ to your message") as system messages; unsent
messages as deleted. Reactions attached to a message are ignored. The conversation is the
folder (``inbox/ana_1234567``), which is also the export's ``thread_path``; message ids are built
from time, sender and text, as there are none in the export. Files are a few MB each (Meta splits
threads every 10,000 messages), so each is read whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath

from echoroom.ingest.clock import from_unix
from echoroom.ingest.schema import Message, Repeats
from echoroom.ingest.session import DELETED, NO_TEXT, SYSTEM, Session
from echoroom.ingest.source import Entry, MalformedJson, Tree

MESSAGE_FILE = re.compile(r"(?:^|/)message_\d+\.json$")
_MEDIA_KEYS = ("photos", "videos", "gifs", "audio_files", "files", "sticker", "share")
_MESSAGE_TYPES = {"Generic", "Share"}
# What Meta writes as content when a message has no text of its own.
_MEDIA_TEXT = re.compile(r".{0,80}? sent (?:an? |\d+ )?(?:photos?|videos?|attachments?|GIFs?|stickers?|"
                         r"voice messages?|links?|audio clips?)\.?", re.DOTALL)
_SYSTEM_TEXT = re.compile(r"(?:.{0,80}? )?(?:[Rr]eacted .{1,16} to (?:your|a) message|[Ll]iked a message"
                          r"|named the group .*|changed the group photo\.?|added .{1,80} to the group\.?"
                          r"|left the group\.?|removed .{1,80} from the group\.?|missed a call.*"
                          r"|started a (?:video|audio) chat\.?|joined the (?:video|audio) chat\.?"
                          r"|The video chat ended\.?|set the emoji to .*|set the nickname for .*"
                          r"|set (?:his|her|their|your) own nickname to .*)", re.DOTALL)


def repair(text: str) -> str:
    """Meta's latin-1-escaped UTF-8 read back as the text it was."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def platform_of(path: str, names=()) -> str:
    """Instagram when the download's own name, or a folder above its ``messages/``, says so
    (``instagram-ana-2024-01-15.zip``, ``your_instagram_activity/messages``); a conversation's
    folder name does not count, it is a person's or group's."""
    above = [n.split("messages/", 1)[0] for n in names if "messages/" in n]
    found = any("instagram" in part.lower() for part in [PurePosixPath(path).name, *above])
    return "instagram" if found else "messenger"


def read_messenger(source: Entry | Tree, session: Session) -> Iterator[Message]:
    yield from _read(source, session, "messenger")


def read_instagram(source: Entry | Tree, session: Session) -> Iterator[Message]:
    yield from _read(source, session, "instagram")


def _read(source: Entry | Tree, session: Session, platform: str) -> Iterator[Message]:
    if isinstance(source, Entry):
        thread = session.options.conversation or _thread(source.member or source.path.as_posix())
        files = [(thread, source)]
    else:
        files = [(_thread(name), e) for name, e in source.entries.items() if MESSAGE_FILE.search(name)]
    for thread, entry in sorted(files, key=lambda f: (f[0], _number(f[1].name))):
        yield from _read_file(entry, session, platform, thread)


def _thread(path: str) -> str:
    """``inbox/ana_1234567`` for ``.../messages/inbox/ana_1234567/message_1.json``."""
    parts = PurePosixPath(path).parts[:-1]
    return "/".join(parts[-2:]) if parts else "messages"


def _number(name: str) -> int:
    return int(re.sub(r"\D", "", name) or 0)


def _read_file(entry: Entry, session: Session, platform: str, thread: str) -> Iterator[Message]:
    header, records = {}, []
    try:
        with entry.json() as doc:
            for key, pos in doc.object(0):
                if key == "messages":
                    records = list(doc.items(pos))
                elif key in ("title", "thread_path"):
                    header[key] = doc.value(pos)
    except MalformedJson as e:
        session.bad(entry.label, e.line, f"{e.problem}; the rest of this file was not read")
    if not isinstance(header.get("title", ""), str):
        session.bad(entry.label, None, "title is not a string: not a Messenger/Instagram export?")
        return
    conversation = f"{platform}:{thread}"
    channel = repair(header.get("title") or thread)
    repeats = Repeats(platform)
    yield from session.records(entry.label, records, _message, conversation, channel, platform,
                               repeats, session)


def _message(item: dict, conversation: str, channel: str, platform: str, repeats: Repeats,
             session: Session) -> Message | None:
    millis = int(item["timestamp_ms"])
    sender = repair(item["sender_name"])
    if item.get("is_unsent"):
        session.skip(DELETED)
        return None
    if item.get("type", "Generic") not in _MESSAGE_TYPES:
        session.skip(SYSTEM)  # Call, Subscribe, Unsubscribe, ...
        return None
    text = repair(item.get("content") or "").strip()
    share = item.get("share") or {}
    if text and _SYSTEM_TEXT.fullmatch(text):
        session.skip(SYSTEM)
        return None
    if not text or (any(k in item for k in _MEDIA_KEYS)
                    and (_MEDIA_TEXT.fullmatch(text) or text == share.get("link"))):
        session.skip(NO_TEXT)
        return None
    sender = session.sender(sender)
    return Message(
        message_id=repeats.message_id(conversation, str(millis), sender, text),
        conversation_id=conversation, sender=sender,
        sent_at=from_unix(f"{millis // 1000}.{millis % 1000:03d}"), text=text, channel=channel,
        reply_to=None, platform=platform)
