"""Chat exports in, canonical message corpus out: ``ingest(["chat.txt"], "corpus.parquet")``.

One module per export format (whatsapp, discord, telegram, slack, messenger for Messenger and
Instagram, tabular), each yielding ``Message`` rows; ``whatsapp_headers`` and ``whatsapp_notices``
hold WhatsApp's header shapes and its notices in 16 languages. ``detection`` picks the module,
``session`` carries options, pseudonyms, the error policy and the summary, ``clock`` the timezone
rules, ``zones`` which zone (``--timezone`` or the machine's), ``source`` the files and archives
read, ``json_document`` the incremental JSON reader, ``schema`` the corpus columns (the one
definition scoring reads too) and stable ids, ``writer`` the Parquet writer, ``errors`` the
``IngestError`` they all raise. docs/ingest.md is the user's guide.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from echoroom.ingest.detection import READERS, detect
from echoroom.ingest.errors import IngestError
from echoroom.ingest.schema import COLUMNS, SCHEMA, Message, message_id
from echoroom.ingest.session import DUPLICATE, FORMATS, Options, Session, Summary
from echoroom.ingest.source import Tree
from echoroom.ingest.writer import CorpusWriter

__all__ = ["COLUMNS", "FORMATS", "SCHEMA", "TIMEZONE_KEY", "IngestError", "Message", "Options", "Summary",
           "detect", "ingest", "message_id"]
# The corpus file's key-value metadata naming the zone local times were read in (absent when the
# exports had none); "echoroom.timezone_source" says whether it was --timezone, the local zone or
# the UTC fallback.
TIMEZONE_KEY = "echoroom.timezone"


def ingest(exports: Iterable[str | os.PathLike], out: str | os.PathLike,
           options: Options | None = None) -> Summary:
    """Read every export and write one corpus to ``out`` (replaced only when all went well)."""
    options = options or Options()
    exports = list(exports)
    if options.conversation and len(exports) > 1:
        raise IngestError("a conversation name applies to one export; ingest the exports "
                          "separately or drop the name")
    session = Session(options)
    with CorpusWriter(out, options.batch_size) as writer:
        for path in exports:
            fmt, source = detect(path, options.format)
            if isinstance(source, Tree):
                session.refuse(source.outside)
            written = 0
            for message in READERS[fmt](source, session):
                if writer.add(message):
                    written += 1
                else:
                    session.skip(DUPLICATE)
            session.summary.exports.append((str(path), fmt, written))
            session.summary.written += written
        if session.summary.zone is not None:
            writer.metadata.update({TIMEZONE_KEY: session.summary.zone.name,
                                    TIMEZONE_KEY + "_source": session.summary.zone.source})
    return session.summary
