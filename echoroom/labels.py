"""The one ordered list of emotions, and how each source dataset's labels map onto it.

Every probability vector in the project follows the order of ``LABELS``. Everything else
(ids, column names, the mapping tables in docs/labels.md) is derived from it.
"""

from __future__ import annotations

LABELS: tuple[str, ...] = (
    "joy", "anger", "sadness", "fear", "surprise",
    "disgust", "love", "gratitude", "neutral", "pride",
)
LABEL2ID: dict[str, int] = {name: i for i, name in enumerate(LABELS)}
ID2LABEL: dict[int, str] = dict(enumerate(LABELS))
NUM_LABELS = len(LABELS)

# GoEmotions' 28 labels, in the order of its emotions.txt.
GOEMOTIONS_LABELS: tuple[str, ...] = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion",
    "curiosity", "desire", "disappointment", "disapproval", "disgust", "embarrassment",
    "excitement", "fear", "gratitude", "grief", "joy", "love", "nervousness", "optimism",
    "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral",
)

# source label -> (target label or None to drop, reason). The "fold" policy uses the target;
# the "drop" policy keeps only the labels that are already one of ours. Folding follows the
# Ekman grouping published with GoEmotions (Demszky et al. 2020, Table/Fig. "Ekman mapping"),
# except that love, gratitude and pride stay distinct because they are our own labels.
GOEMOTIONS_MAP: dict[str, tuple[str | None, str]] = {
    "admiration": ("joy", "Ekman group joy; praise of someone or something"),
    "amusement": ("joy", "Ekman group joy"),
    "anger": ("anger", "same label"),
    "annoyance": ("anger", "Ekman group anger; a milder anger"),
    "approval": (None, "agreement carries little emotion and is not neutral either; dropped"),
    "caring": ("love", "warm concern for someone; our love covers affection and care"),
    "confusion": ("surprise", "Ekman group surprise"),
    "curiosity": ("surprise", "Ekman group surprise"),
    "desire": (None, "wanting something is not one of the 10; Ekman's joy fits poorly; dropped"),
    "disappointment": ("sadness", "Ekman group sadness"),
    "disapproval": ("anger", "Ekman group anger"),
    "disgust": ("disgust", "same label"),
    "embarrassment": ("sadness", "Ekman group sadness"),
    "excitement": ("joy", "Ekman group joy"),
    "fear": ("fear", "same label"),
    "gratitude": ("gratitude", "same label"),
    "grief": ("sadness", "Ekman group sadness"),
    "joy": ("joy", "same label"),
    "love": ("love", "same label"),
    "nervousness": ("fear", "Ekman group fear"),
    "optimism": ("joy", "Ekman group joy"),
    "pride": ("pride", "same label"),
    "realization": ("surprise", "Ekman group surprise"),
    "relief": ("joy", "Ekman group joy"),
    "remorse": ("sadness", "Ekman group sadness"),
    "sadness": ("sadness", "same label"),
    "surprise": ("surprise", "same label"),
    "neutral": ("neutral", "same label"),
}

# EmpatheticDialogues' 32 situation emotions (Rashkin et al. 2019). None of them is neutral:
# see docs/labels.md for how the reader lens learns neutral anyway.
EMPATHETIC_MAP: dict[str, tuple[str | None, str]] = {
    "afraid": ("fear", "synonym"),
    "angry": ("anger", "synonym"),
    "annoyed": ("anger", "a milder anger, as GoEmotions' annoyance"),
    "anticipating": (None, "looking forward can be eager or uneasy; no single target"),
    "anxious": ("fear", "worry about what may happen"),
    "apprehensive": ("fear", "unease about what may happen"),
    "ashamed": ("sadness", "as GoEmotions' embarrassment/remorse -> sadness"),
    "caring": ("love", "as GoEmotions' caring"),
    "confident": ("pride", "assurance in one's own ability"),
    "content": ("joy", "quiet happiness"),
    "devastated": ("sadness", "extreme sadness"),
    "disappointed": ("sadness", "as GoEmotions' disappointment"),
    "disgusted": ("disgust", "synonym"),
    "embarrassed": ("sadness", "as GoEmotions' embarrassment"),
    "excited": ("joy", "as GoEmotions' excitement"),
    "faithful": (None, "loyalty is a disposition, not one of the 10"),
    "furious": ("anger", "extreme anger"),
    "grateful": ("gratitude", "synonym"),
    "guilty": ("sadness", "as GoEmotions' remorse"),
    "hopeful": ("joy", "as GoEmotions' optimism"),
    "impressed": ("joy", "as GoEmotions' admiration"),
    "jealous": ("anger", "resentment of another's advantage"),
    "joyful": ("joy", "synonym"),
    "lonely": ("sadness", "a kind of sadness"),
    "nostalgic": (None, "bittersweet: joy and sadness at once; no single target"),
    "prepared": (None, "readiness is not an emotion among the 10"),
    "proud": ("pride", "synonym"),
    "sad": ("sadness", "synonym"),
    "sentimental": (None, "bittersweet like nostalgic; no single target"),
    "surprised": ("surprise", "synonym"),
    "terrified": ("fear", "extreme fear"),
    "trusting": (None, "trust is a disposition, not one of the 10"),
}

# DailyDialog's 7 emotion codes (Li et al. 2017), annotated by readers of the whole dialogue: a
# reader's perception in context. Every class is one of ours except two names.
DAILYDIALOG_LABELS: tuple[str, ...] = (
    "no emotion", "anger", "disgust", "fear", "happiness", "sadness", "surprise",
)
DAILYDIALOG_MAP: dict[str, tuple[str, str]] = {
    "no emotion": ("neutral", "no emotion is our neutral"),
    "anger": ("anger", "same label"),
    "disgust": ("disgust", "same label"),
    "fear": ("fear", "same label"),
    "happiness": ("joy", "DailyDialog's one positive class; shown as joy, learnt as any of joy, love, gratitude, "
                  "pride (labels.dailydialog_set)"),
    "sadness": ("sadness", "same label"),
    "surprise": ("surprise", "same label"),
}
# Scoring our 10 labels on DailyDialog's 7 classes: the positive labels it has no class for read
# as happiness, so a lens is not marked wrong for saying love where DailyDialog says happiness.
TO_DAILYDIALOG: dict[str, str] = {
    "joy": "happiness", "love": "happiness", "gratitude": "happiness", "pride": "happiness",
    "neutral": "no emotion", "anger": "anger", "disgust": "disgust", "fear": "fear",
    "sadness": "sadness", "surprise": "surprise",
}



def dailydialog_set(theirs: str) -> tuple[str, ...]:
    """Every label of ours that reads as DailyDialog class ``theirs``: the set a reader lens may
    answer for it (happiness: joy, love, gratitude or pride; every other class: one label)."""
    if theirs not in DAILYDIALOG_LABELS:
        raise KeyError(f"DailyDialog class {theirs!r} is not one of {DAILYDIALOG_LABELS} (labels.py)")
    return tuple(label for label in LABELS if TO_DAILYDIALOG[label] == theirs)


POLICIES = ("fold", "drop")

# What the reader lens can learn from in an EmpatheticDialogues conversation (echoroom.lenses.data).
READER_TEXTS = ("first_turn", "prompt", "prompt_first_turn", "speaker_turns")


def map_goemotions(names: list[str], policy: str = "fold") -> list[str]:
    """Our labels for one GoEmotions example (duplicates removed, order kept); may be empty."""
    if policy not in POLICIES:
        raise ValueError(f"unknown label policy {policy!r}; expected one of {POLICIES}")
    out: list[str] = []
    for name in names:
        if name not in GOEMOTIONS_MAP:
            raise KeyError(f"GoEmotions label {name!r} is not in the mapping table (labels.py)")
        target = GOEMOTIONS_MAP[name][0] if policy == "fold" else (name if name in LABEL2ID else None)
        if target is not None and target not in out:
            out.append(target)
    return out


def map_empathetic(context: str) -> str | None:
    if context not in EMPATHETIC_MAP:
        raise KeyError(f"EmpatheticDialogues emotion {context!r} is not in the mapping table (labels.py)")
    return EMPATHETIC_MAP[context][0]


def map_dailydialog(code: int) -> str:
    """Our label for a DailyDialog emotion code (0 no emotion ... 6 surprise)."""
    if not 0 <= code < len(DAILYDIALOG_LABELS):
        raise KeyError(f"DailyDialog emotion code {code} is not 0..{len(DAILYDIALOG_LABELS) - 1} (labels.py)")
    return DAILYDIALOG_MAP[DAILYDIALOG_LABELS[code]][0]
