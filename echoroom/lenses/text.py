"""What a lens reads: a message's text prepared the same way in training, evaluation and scoring.

The encoder's WordPiece vocabulary has no emoji: every one becomes ``[UNK]``, so "😂😂😂", "❤️" and
"👏👏👏" read the same. ``prepare`` writes each emoji as its CLDR name in words ("face with tears of
joy", "red heart"), which the encoder has seen in English text. The stored message keeps its
original text; only what the lens reads changes. A lens records the preparation it was trained
with (``LensInfo.text_prep``), and scoring applies exactly that one.
"""

from __future__ import annotations

import re

import emoji

PREPARATIONS = ("", "emoji_names")
# Private-use delimiters: an underscore in the user's own text is never touched.
_NAMED = re.compile("\x02([^\x03]*)\x03")
_SPACES = re.compile(r"\s+")


def _named(match: re.Match) -> str:
    return " " + match.group(1).replace("_", " ") + " "


def emoji_names(text: str) -> str:
    """``text`` with every emoji replaced by its name in words, spaces tidied."""
    if emoji.emoji_count(text) == 0:
        return text
    named = _NAMED.sub(_named, emoji.demojize(text, delimiters=("\x02", "\x03")))
    return _SPACES.sub(" ", named).strip()


def prepare(texts: list[str], how: str) -> list[str]:
    """The texts as a lens prepared with ``how`` reads them (``""``: unchanged)."""
    if how not in PREPARATIONS:
        raise ValueError(f"unknown text preparation {how!r}; expected one of {PREPARATIONS}")
    return [emoji_names(t) for t in texts] if how == "emoji_names" else list(texts)
