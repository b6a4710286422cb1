"""Kinds of shift, named in one place so that every section says the same thing.

A shift is not always a misreading: intended neutral read as an emotion is *tone added*, an
emotion read as neutral is *tone lost*, one emotion read as another is *misread*. The store has
the kind per message (``message_lenses.shift_kind``); ``of`` is the same rule
(``echoroom.lenses.shift.kind``) for places that hold only the two emotions, such as a matrix cell.
"""

from __future__ import annotations

from echoroom.lenses import shift

KINDS = {
    "none": "same top emotion",
    "misread": "read as another emotion",
    "tone_lost": "emotion read as neutral (tone lost)",
    "tone_added": "neutral read as an emotion (tone added)",
}


of = shift.kind
