"""Synthetic chat messages for tests, benchmarks and demos: varied, seeded, shaped like real chat.

Real group chat is mostly short lines ("ok", "lol same") with a long tail of paragraphs, and the
short ones repeat a lot; the scorer's dedupe and length-sorted batching are only measured
honestly on text with that shape. Nothing here is drawn from real people's messages.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from echoroom.ingest.schema import COLUMNS

SHORT = ["ok", "lol", "same", "thanks!", "omg", "yes!!", "no way", "haha", "sure", "k", "ugh",
         "love this", "wait what", "sorry :(", "good night", "congrats!!", "see you", "hmm", "nice", "why"]
OPENERS = ["honestly", "so", "ok so", "not gonna lie", "just saying", "wow", "hey", "listen", "ugh", "well"]
FEELINGS = [
    "I'm so happy for you", "this makes me really angry", "I feel kind of sad about it",
    "I'm scared it won't work out", "I did not expect that at all", "that is disgusting",
    "I love you all so much", "thank you so much for helping", "it's fine, whatever",
    "I'm really proud of what we built", "I can't believe they did that again",
    "this is the best news all week", "I miss the old days", "why would anyone say that",
]
TOPICS = ["the trip", "your new job", "the meeting tomorrow", "dinner on friday", "the exam results",
          "what she said", "the game last night", "the landlord", "our project", "the concert"]
DETAILS = [
    "we waited for two hours and nobody told us anything",
    "the whole team stayed late to finish it and it actually worked",
    "I keep thinking about what would have happened if we had left earlier",
    "my mom called three times to ask about it",
    "the train was cancelled again so I walked home in the rain",
    "everyone was laughing so hard we had to leave the room",
    "I read the message twice because I thought I misunderstood",
]

CHANNELS = [("family", "whatsapp"), ("general", "discord"), ("team", "slack")]


def message(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.35:
        return rng.choice(SHORT)
    if roll < 0.80:
        return f"{rng.choice(OPENERS)} {rng.choice(FEELINGS)}, about {rng.choice(TOPICS)}"
    sentences = [f"{rng.choice(FEELINGS).capitalize()} about {rng.choice(TOPICS)}."]
    for _ in range(rng.randint(1, 12 if roll < 0.98 else 60)):
        sentences.append(rng.choice(DETAILS).capitalize() + rng.choice([".", "!", "...", "?"]))
    return " ".join(sentences)


def messages(n: int, seed: int = 0, start: int = 0) -> dict[str, list]:
    """``n`` messages as the corpus columns (``echoroom.ingest.schema.COLUMNS``); ids ``m<start>`` ..
    ``m<start+n-1>``. Every fifth message replies to the one before it in its conversation."""
    rng = random.Random(seed)
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    people = ["ana", "ben", "chloe", "dev", "eli", "fatima"]
    cols: dict[str, list] = {k: [] for k in COLUMNS}
    for i in range(start, start + n):
        cols["message_id"].append(f"m{i:07d}")
        cols["conversation_id"].append(f"c{i // 40:05d}")
        cols["sender"].append(rng.choice(people))
        cols["sent_at"].append(t0 + timedelta(seconds=97 * i))
        channel, platform = rng.choice(CHANNELS)
        cols["channel"].append(channel)
        cols["platform"].append(platform)
        cols["text"].append(message(rng))
        cols["reply_to"].append(f"m{i - 1:07d}" if i % 5 == 4 and i % 40 else None)
    return cols
