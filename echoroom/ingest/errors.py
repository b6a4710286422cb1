"""The one error ingest raises, in a module of its own so that every ingest module (the clock, the
session, the readers) can import it without importing each other."""

from __future__ import annotations


class IngestError(ValueError):
    """An export that cannot be read as asked: unknown format, bad option, or (``on_error='stop'``)
    a malformed record. The message names the file (and line) and the fix."""
