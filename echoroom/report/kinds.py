"""Kinds of shift, named in one place so that every section says the same thing.

A shift is not always a misreading. Until the store records a kind per message, the kind is read
from the two top emotions: intended neutral read as an emotion is *tone added*, an emotion read
as neutral is *tone lost*, one emotion read as another is *misread*. When ``message_lenses``
gains its own kind column, ``of`` is the one function to replace.
"""

from __future__ import annotations

KINDS = {
    "none": "read as meant",
    "misread": "read as another emotion",
    "tone_lost": "emotion read as neutral (tone lost)",
    "tone_added": "neutral read as an emotion (tone added)",
}


def of(author_emotion: str, reader_emotion: str) -> str:
    if author_emotion == reader_emotion:
        return "none"
    if reader_emotion == "neutral":
        return "tone_lost"
    if author_emotion == "neutral":
        return "tone_added"
    return "misread"
