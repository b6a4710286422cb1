"""Slack workspace exports: the zip an admin downloads, or that zip unpacked into a folder.

The export holds ``users.json``, ``channels.json`` (and for private exports ``groups.json``,
``mpims.json``, ``dms.json``) and one folder per conversation of per-day files
``<folder>/YYYY-MM-DD.json``, each a list of messages; they are read one day at a time, so memory
follows the busiest day, not the workspace. A conversation is its Slack id; a message's id is its
``ts``; a thread reply (``thread_ts`` other than its own ``ts``) points at the thread's parent.

User ids are shown as names (display name, else real name, else handle), in senders and in
mentions (``<@U024BE7LH>`` -> ``@Ana``), both pseudonymised when a key is set. Join, leave, topic
and similar subtypes are system messages.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

from echoroom.ingest.clock import from_unix
from echoroom.ingest.errors import IngestError
from echoroom.ingest.schema import Message, message_id
from echoroom.ingest.session import DELETED, NO_TEXT, SYSTEM, Session
from echoroom.ingest.source import MalformedJson, Tree

PLATFORM = "slack"
_DAY_FILE = re.compile(r"(?P<folder>[^/]+)/\d{4}-\d{2}-\d{2}\.json")
_LISTS = ("channels.json", "groups.json", "mpims.json", "dms.json")
_MESSAGE_SUBTYPES = {None, "bot_message", "thread_broadcast", "file_share", "me_message"}
_LINK = re.compile(r"<([@#!])?([^<>|]*)(?:\|([^<>]*))?>")


def is_export(tree: Tree) -> bool:
    return "users.json" in tree.entries and any(n in tree.entries for n in _LISTS)


def read(tree: Tree, session: Session) -> Iterator[Message]:
    users = {u["id"]: _name(u) for u in _load(tree, "users.json", session)}
    folders = {}  # folder name -> (conversation id, channel name)
    for listing in _LISTS:
        for c in _load(tree, listing, session):
            # Channels are foldered by name; DMs (which have none) by id.
            folders[c.get("name") or c["id"]] = (c["id"], "#" + c["name"] if c.get("name")
                                                 else _dm_name(c, users, session))
    days = [(m["folder"], name) for name in tree.entries if (m := _DAY_FILE.fullmatch(name))]
    for folder, name in sorted(days):
        channel_id, channel = folders.get(folder, (folder, "#" + folder))
        conversation = f"{PLATFORM}:{channel_id}"
        entry = tree.entries[name]
        try:
            with entry.json() as doc:
                yield from session.records(entry.label, doc.items(0), _message,
                                           conversation, channel, users, session)
        except MalformedJson as e:
            session.bad(entry.label, e.line, f"{e.problem}; the rest of this file was not read")


def _message(item, conversation, channel, users, session) -> Message | None:
    subtype = item.get("subtype")
    if subtype == "tombstone":
        session.skip(DELETED)
        return None
    if item.get("type") != "message" or subtype not in _MESSAGE_SUBTYPES:
        session.skip(SYSTEM)
        return None
    text = _resolve(item.get("text") or "", users, session)
    if not text.strip():
        session.skip(NO_TEXT)
        return None
    user = item.get("user")
    sender = (users.get(user) or item.get("username") or (item.get("user_profile") or {})
              .get("real_name") or user or item.get("bot_id") or "(unknown)")
    ts, thread = item["ts"], item.get("thread_ts")
    return Message(
        message_id=message_id(PLATFORM, conversation, ts), conversation_id=conversation,
        sender=session.sender(sender), sent_at=from_unix(ts), text=text, channel=channel,
        reply_to=message_id(PLATFORM, conversation, thread) if thread and thread != ts else None,
        platform=PLATFORM)


def _resolve(text: str, users: dict, session: Session) -> str:
    """Slack's markup as a reader sees it: mentions as @name, links as their label."""
    def link(m):
        kind, target, label = m.groups()
        if kind == "@":
            return "@" + session.sender(users.get(target) or label or target)
        if kind == "#":
            return "#" + (label or target)
        if kind == "!":
            return "@" + (label or target.split("^")[0])
        return label or target
    return html.unescape(_LINK.sub(link, text))


def _load(tree: Tree, name: str, session: Session) -> list:
    if name not in tree.entries:
        return []
    entry = tree.entries[name]
    try:
        with entry.json() as doc:
            return doc.value(0)
    except MalformedJson as e:
        # Without the user or channel list nothing is named right: stop even under "skip".
        raise IngestError(f"{entry.label}:{e.line}: {e.problem}") from None


def _name(user: dict) -> str:
    profile = user.get("profile") or {}
    return (profile.get("display_name") or profile.get("real_name") or user.get("real_name")
            or user.get("name") or user["id"])


def _dm_name(conversation: dict, users: dict, session: Session) -> str:
    members = conversation.get("members") or []
    if not members:
        return conversation["id"]
    return "DM " + ", ".join(session.sender(users.get(m, m)) for m in members)
