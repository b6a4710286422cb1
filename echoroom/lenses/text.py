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
# Every emoji the emoji package knows holds one of these code points (tests/test_text.py checks):
# a text without any is returned at once. The package's own test walks the text in Python, a
# fifth of the fast path's time on chat (bench/bench_score.py).
_MAYBE_EMOJI = re.compile("[\u00a9\u00ae\u203c-\U0010ffff]")


def _named(match: re.Match) -> str:
    return " " + match.group(1).replace("_", " ") + " "


def emoji_names(text: str) -> str:
    """``text`` with every emoji replaced by its name in words, spaces tidied."""
    if not _MAYBE_EMOJI.search(text) or emoji.emoji_count(text) == 0:
        return text
    named = _NAMED.sub(_named, emoji.demojize(text, delimiters=("\x02", "\x03")))
    return _SPACES.sub(" ", named).strip()


def prepare(texts: list[str], how: str) -> list[str]:
    """The texts as a lens prepared with ``how`` reads them (``""``: unchanged)."""
    if how not in PREPARATIONS:
        raise ValueError(f"unknown text preparation {how!r}; expected one of {PREPARATIONS}")
    return [emoji_names(t) for t in texts] if how == "emoji_names" else list(texts)
