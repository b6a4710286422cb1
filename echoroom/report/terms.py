"""The words that are never a "term" on their own in the shift-terms section.

The scored messages are in the lenses' languages (English; other languages are skipped when
scored, docs/scoring.md), so one English list serves. It is NLTK's English list (the function
words of Porter's SMART-derived list) plus contractions and chat fillers, written out here rather
than taken from scikit-learn's ``ENGLISH_STOP_WORDS``: that list drops words that carry tone
("cry", "serious", "sincere", "whatever", "fire"), which are exactly what this section looks for.
A two-word phrase is kept unless both words are stopwords, so "if you say so" still shows as
"say so".
"""

from __future__ import annotations

import math

_NLTK_ENGLISH = """
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her
hers herself it its itself they them their theirs themselves what which who whom this that these
those am is are was were be been being have has had having do does did doing a an the and but if or
because as until while of at by for with about against between into through during before after
above below to from up down in out on off over under again further then once here there when where
why how all any both each few more most other some such no nor not only own same so than too very
can will just don should now
"""
_CONTRACTIONS = """
i'm i've i'll i'd you're you've you'll you'd he's she's it's we're we've we'll they're they've
they'll that's there's what's let's don't doesn't didn't isn't aren't wasn't weren't haven't hasn't
hadn't won't wouldn't can't couldn't shouldn't im ive ill id youre dont doesnt didnt isnt cant
"""
# Acknowledgements and fillers: in chat they are in every kind of message, so their lift is noise.
_CHAT = "ok okay oh yeah yes yep hey hi hello lol u ur get got would could also"

STOPWORDS: tuple[str, ...] = tuple(sorted(set((_NLTK_ENGLISH + _CONTRACTIONS + _CHAT).split())))


def lift_interval(term: dict, messages: int, shifted: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95% interval of a ``shift_terms`` row's lift: the log risk-ratio interval (Katz et al.
    1978) on the same smoothed counts the query uses. A term whose interval reaches 1 may be chance."""
    a, b = term["shifted"] + 0.5, term["support"] - term["shifted"] + 0.5
    n1, n2 = shifted + 1, messages - shifted + 1
    spread = z * math.sqrt(max(0.0, 1 / a - 1 / n1 + 1 / b - 1 / n2))
    return term["lift"] * math.exp(-spread), term["lift"] * math.exp(spread)
