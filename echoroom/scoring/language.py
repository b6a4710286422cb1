"""Which language each message is in, and which messages the lenses cannot read.

The detector is py3langid (langid.py's naive Bayes over byte n-grams, offline, ~40 µs a message
on one core here), chosen over lingua with ``bench/bench_language.py`` on short chat lines we wrote
(``tests/fixtures/languages.tsv``); the numbers are in docs/scoring.md, "Languages". It answers
with ISO 639-1 codes, as the ``languages`` setting and the store do: its dialect and creole
classes with longer codes are left out, because on chat they mostly steal short lines from the
big language next to them ("are we still on for tonight?" came out Nigerian Pidgin).

The rule. A message is left out, stored as skipped with reason ``language xx``, only when
  1. it has at least ``MIN_LETTER_BYTES`` bytes of letters: emoji, digits and punctuation do not
     count, and a letter counts its UTF-8 bytes (Latin 1, Cyrillic, Greek or Arabic 2, CJK, kana or
     Devanagari 3), because the detector reads bytes, and "谢谢你" says as much as "thanks!!";
  2. the detector gives the lenses' languages, together, less than ``MAX_LENS_SHARE``; and
  3. its answer ``xx`` is a language (not ``zxx``, "no linguistic content").
Anything else is read by the lenses as their language: "ok", "lol", "😂😂", "Danke!" (too few
letters to tell) and every line the detector is unsure of. Its ``language`` is then the detector's
answer if that is one of the lenses' languages and the letter floor is met, else ``und``
(undetermined). Null and empty texts have no language (NULL). Both thresholds were set on the
labelled lines and checked on English chat the rule must keep (docs/scoring.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

UNDETERMINED = "und"  # ISO 639-2 / BCP 47 for "undetermined"
NO_LANGUAGE = "zxx"  # the detector's class for text with no linguistic content
MIN_LETTER_BYTES = 10
MAX_LENS_SHARE = 0.01
# Messages longer than this are detected on their start: the lenses read only their first 64
# tokens too, and the detector's cost grows with length (the longest chat lines are pages).
MAX_CHARS = 300
# The ISO 639-1 codes py3langid 0.4 knows (tests/test_language.py checks them against its model),
# here so that settings are checked without loading the model.
KNOWN = tuple("af am an ar as az ba be bg bn br bs ca cs cy da de dz el en eo es et eu fa fi fo fr fy ga gd "
              "gl gu ha he hi hr ht hu hy id ig is it ja jv ka kk km kn ko ku ky la lb lg ln lo lt lv mg "
              "mk ml mn mr ms mt my ne nl nn no oc om or pa pl ps pt qu ro ru rw sa se si sk sl sn so sq "
              "sr st sv sw ta te tg th tk tl tr tt ug uk ur uz vi vo wa xh yo zh zu".split())
REASON = "language "  # skip_reason prefix: "language de"


@lru_cache(maxsize=1)
def identifier():
    """The py3langid model restricted to ``KNOWN`` and ``zxx``, loaded once per process (~1 s)."""
    import numpy as np
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
    from py3langid.modelio import load_model

    # What LanguageIdentifier.from_model_file and set_languages do, done once: their way keeps the
    # whole table beside the chosen columns (+27 MiB a process) and leaves the chosen ones in
    # column-major order, which each message's row gather reads ~1.7x slower (13k vs 23k msg/s).
    ptc, pc, classes, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
    keep = [i for i, code in enumerate(classes) if code in KNOWN or code == NO_LANGUAGE]
    return LanguageIdentifier(np.ascontiguousarray(np.asarray(ptc)[:, keep]), np.asarray(pc)[keep],
                              [classes[i] for i in keep], nextmove, output, norm_probs=True, tk_row=row)


def enough_letters(text: str) -> bool:
    """At least ``MIN_LETTER_BYTES`` bytes of letters; stops counting there (long texts are common)."""
    n = 0
    for ch in text:
        if ch.isalpha():
            n += len(ch.encode())
            if n >= MIN_LETTER_BYTES:
                return True
    return False


def unknown(codes: Sequence[str]) -> str | None:
    """What is wrong with ``codes`` as the lenses' languages, or None."""
    bad = [code for code in codes if code not in KNOWN]
    if codes and not bad:
        return None
    found = f"{', '.join(map(repr, bad))} unknown to the language detector" if bad else "no language given"
    return f"{found}: expected ISO 639-1 codes, comma-separated, e.g. en or en,de; known: {' '.join(KNOWN)}"


class LanguageDetector:
    """The lenses' languages and the rule above: ``detect`` the texts, then ``reason`` says which
    of them to leave out."""

    def __init__(self, languages: Sequence[str] = ("en",)):
        problem = unknown(languages)
        if problem:
            raise ValueError(f"the lenses' languages {problem}")
        self.languages = tuple(languages)
        self.model = identifier()

    def language(self, text: str) -> str:
        """The language of one non-empty text under the rule: a code, or ``und``."""
        text = text[:MAX_CHARS]
        if not enough_letters(text):  # und whatever the detector says: not worth asking it
            return UNDETERMINED
        top, _ = self.model.classify(text)
        if top == NO_LANGUAGE:
            return UNDETERMINED
        if top in self.languages:
            return top
        # Not one of the lenses' languages on top: left out only if the lenses' share is small.
        shares = dict(self.model.rank(text))
        if sum(shares.get(code, 0.0) for code in self.languages) < MAX_LENS_SHARE:
            return top
        return UNDETERMINED

    def detect(self, texts: Sequence[str | None]) -> list[str | None]:
        """Each text's language (NULL for null or blank text); each distinct text is detected once."""
        seen: dict[str, str | None] = {}
        out = []
        for text in texts:
            if text not in seen:
                seen[text] = self.language(text) if text is not None and text.strip() else None
            out.append(seen[text])
        return out

    def reason(self, language: str | None) -> str | None:
        """``language xx`` for a language the lenses do not read, else None."""
        if language is None or language == UNDETERMINED or language in self.languages:
            return None
        return REASON + language


def parse_languages(text: str) -> tuple[str, ...]:
    """``"en, de"`` -> ``("en", "de")``."""
    return tuple(code.strip().lower() for code in text.split(",") if code.strip())


def summary(counts: dict[str, int]) -> str:
    """``{"de": 9, "es": 3}`` -> ``"9 de, 3 es"``, most first."""
    return ", ".join(f"{n:,} {code}" for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
