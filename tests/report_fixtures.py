"""Databases for the report tests, filled by the real scoring path (``jobs.score``).

The corpus is hand-written: ordinary messages over three weeks, three conversations, three
channels and five senders, plus a hostile corpus whose text, conversation, channel and sender
would run script, inject markup, template or SQL if anything along the way failed to escape or
bind them. Each hostile payload, if it ran, would change ``document.title`` or add a marked
element, which the browser tests look for.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from echoroom import store
from jobs import score as score_job

PWNED = "pwned"
HOSTILE = (
    f"<script>document.title='{PWNED}'</script>",
    f"\"><img src=x onerror=\"document.title='{PWNED}'\">",
    f"<svg onload=\"document.body.setAttribute('data-{PWNED}','1')\"></svg>",
    f"</script><script>document.title='{PWNED}'</script>",
    "{{ 7*7 }} {% for x in range(3) %}loop{% endfor %}",
    "'; DROP TABLE messages; --",
    f"<iframe srcdoc=\"<script>parent.document.title='{PWNED}'</script>\"></iframe>",
    f"<a href=\"javascript:document.title='{PWNED}'\">click</a> &amp; &lt;b&gt;",
)
# Hostile names for the metadata columns too: they show up in rankings, charts and tables.
HOSTILE_CONVERSATION = f"<script>document.title='{PWNED}'</script>"
HOSTILE_SENDER = f"\"><img src=x onerror=\"document.title='{PWNED}'\">"
HOSTILE_CHANNEL = "{{ 7*7 }}"

ORDINARY = (
    "Great job on the launch, I'm so proud of the team!",
    "Thanks so much for covering my shift yesterday.",
    "Fine. Do whatever you want.",
    "Sure, if you say so.",
    "I can't believe they cancelled the trip again.",
    "Wow, I did not expect that at all!",
    "Love you, see you tonight.",
    "That smell in the fridge is disgusting.",
    "I'm worried about the deadline on Friday.",
    "Meeting moved to 3pm.",
    "Ok then. Noted.",
    "This is the worst service I've ever had.",
    "Miss you so much, it's been too long.",
    "Whatever works for you is fine with me.",
    "Can't wait for the weekend!",
    "Honestly I'm a bit scared of the results.",
    "We did it! First place!",
    "Thanks for nothing.",
    "Fine, I'll do it myself.",
    "Lunch at noon?",
    "Sure, great idea, as always.",
    "I'm so sorry for your loss.",
    "Why would you even say that?",
    "Nice work everyone, really.",
)
START = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.timezone.utc)  # a Monday
# Lines in languages the lenses do not read, with the code scoring stores them as skipped under.
FOREIGN = (("Ich komme heute etwas später nach Hause", "de"),
           ("Das Essen war wirklich sehr lecker, vielen Dank!", "de"),
           ("¿Dónde estás? Te estamos esperando en la estación", "es"))


def corpus_rows(hostile: bool = True) -> list[dict]:
    """The messages, deterministic: spread over 3 weeks, 3 conversations, 3 channels, 5 senders."""
    rows = []
    for i, text in enumerate(ORDINARY):
        rows.append({"message_id": f"msg-{i:03d}", "conversation_id": ("team", "family", "friends")[i % 3],
                     "sender": ("ana", "ben", "chen", "dee", "eli")[i % 5],
                     "sent_at": START + dt.timedelta(hours=17 * i),
                     "channel": ("slack", "whatsapp", "discord")[(i // 2) % 3], "text": text})
    if hostile:
        for j, text in enumerate(HOSTILE):
            rows.append({"message_id": f"hostile-{j:02d}", "conversation_id": HOSTILE_CONVERSATION,
                         "sender": HOSTILE_SENDER, "sent_at": START + dt.timedelta(days=2, hours=3 * j),
                         "channel": HOSTILE_CHANNEL, "text": text})
    return rows


def foreign_rows() -> list[dict]:
    """``FOREIGN`` as messages: the German ones on whatsapp, the Spanish one on slack, on day two."""
    return [{"message_id": f"foreign-{k}", "conversation_id": "family", "sender": "ana",
             "sent_at": START + dt.timedelta(days=1, hours=k), "channel": "slack" if code == "es" else "whatsapp",
             "text": text} for k, (text, code) in enumerate(FOREIGN)]


def write_corpus(path: Path, rows: list[dict]) -> Path:
    columns = {k: [r[k] for r in rows] for k in ("message_id", "conversation_id", "sender", "sent_at",
                                                 "channel", "text")}
    table = pa.table({**{k: pa.array(v, pa.string()) for k, v in columns.items() if k != "sent_at"},
                      "sent_at": pa.array(columns["sent_at"], pa.timestamp("us", tz="UTC"))})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def scored_db(folder: Path, lens_root: Path, rows: list[dict], keep_shards: bool = False) -> Path:
    """A DuckDB file holding ``rows`` scored by both lenses through the real scoring job."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "echoroom.duckdb"
    corpus = write_corpus(folder / "corpus.parquet", rows)
    argv = [f"--inputs={corpus}", f"--db={db}", f"--lenses={lens_root}", "--progress=false",
            f"--keep_shards={str(keep_shards).lower()}", f"--work_dir={folder / 'work'}"]
    score_job.main(argv)
    return db


def empty_db(folder: Path) -> Path:
    """A database with the schema and nothing scored."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "empty.duckdb"
    store.connect(db).close()
    return db
