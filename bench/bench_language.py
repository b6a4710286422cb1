"""Language identification for short chat lines: offline detectors compared on accuracy and cost.

    python bench/bench_language.py                 # every detector installed, the chosen one first
    python bench/bench_language.py --n=20000       # chatter lines timed per detector

Compared: py3langid as scoring uses it (its ISO 639-1 classes plus zxx; echoroom/scoring/language.py),
py3langid with all its classes, and lingua (``pip install -e '.[bench]'``) in its high and low
accuracy modes, each in a fresh process so load time and memory are its own. For each:
- top-1 accuracy on the lines of tests/fixtures/languages.tsv that have a language (all, one-word
  lines, longer lines);
- the scoring rule (letter floor, lenses' share < 1%; lenses' language en) applied to its answers:
  English, short and emoji lines wrongly left out; lines in other languages left out, and of those
  with the right code; the share of English chat (GoEmotions dev, a sample of DailyDialog train,
  from ../shared/data when present) wrongly left out;
- msg/s of detection alone on ``--n`` synthetic chatter lines (echoroom.demo.chatter, cut to the
  first 300 characters as scoring does, no dedupe), load seconds and the memory it adds.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from echoroom.scoring import language as L  # noqa: E402

LINES = ROOT / "tests" / "fixtures" / "languages.tsv"
DATA = ROOT.parent / "shared" / "data"
DETECTORS = ("py3langid", "py3langid-all", "lingua-high", "lingua-low")
LENS = ("en",)


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def loader(name: str):
    """``shares(text) -> (top code, {code: share})`` for one detector; None if not installed."""
    if name.startswith("py3langid"):
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        if name == "py3langid":
            model = L.identifier()
        else:
            model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

        def shares(text):
            ranked = model.rank(text)
            return ranked[0][0], dict(ranked)
        return shares, model.classify
    try:
        from lingua import LanguageDetectorBuilder
    except ImportError:
        return None
    builder = LanguageDetectorBuilder.from_all_languages()
    if name == "lingua-low":
        builder = builder.with_low_accuracy_mode()
    model = builder.with_preloaded_language_models().build()

    def shares(text):
        values = model.compute_language_confidence_values(text)
        if not values or values[0].value == 0:  # no letters it knows: it does not answer
            return L.NO_LANGUAGE, {}
        return (values[0].language.iso_code_639_1.name.lower(),
                {v.language.iso_code_639_1.name.lower(): v.value for v in values})
    return shares, model.detect_language_of


def rule(text: str, top: str, shares: dict) -> str:
    """echoroom.scoring.language's rule on any detector's answer: a code to leave out, or und/en."""
    if top == L.NO_LANGUAGE or not L.enough_letters(text):
        return L.UNDETERMINED
    if top in LENS:
        return top
    return top if sum(shares.get(c, 0.0) for c in LENS) < L.MAX_LENS_SHARE else L.UNDETERMINED


def english_chat() -> list[str]:
    """Real English chat lines the rule must keep, if the shared datasets are beside the checkout."""
    import pyarrow.parquet as pq

    texts = []
    if (DATA / "goemotions" / "dev.parquet").is_file():
        texts += pq.read_table(DATA / "goemotions" / "dev.parquet", columns=["text"]).column(0).to_pylist()
    if (DATA / "dailydialog" / "train.parquet").is_file():
        lines = pq.read_table(DATA / "dailydialog" / "train.parquet", columns=["utterance"]).column(0).to_pylist()
        texts += random.Random(0).sample(lines, min(10_000, len(lines)))
    return texts


def measure(name: str, n: int) -> dict | None:
    """One detector, in this process."""
    from echoroom.demo import chatter

    with LINES.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    chat = [t[:L.MAX_CHARS] for t in chatter.messages(n, seed=1)["text"]]
    english = english_chat()
    before, t0 = rss_mib(), time.perf_counter()
    found = loader(name)
    if found is None:
        return None
    shares, detect_one = found
    detect_one("warm up")
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    for text in chat:
        detect_one(text)
    speed = len(chat) / (time.perf_counter() - t0)

    scoring = None
    if name == "py3langid":  # what scoring pays: the rule too, each 1,024-row unit's distinct texts once
        detector, t0 = L.LanguageDetector(LENS), time.perf_counter()
        for i in range(0, len(chat), 1024):
            detector.detect(chat[i:i + 1024])
        scoring = len(chat) / (time.perf_counter() - t0)

    answers = [(r["language"], r["text"], *shares(r["text"])) for r in rows]
    named = [a for a in answers if a[0] != L.UNDETERMINED]
    one = [a for a in named if len(a[1].split()) == 1]
    longer = [a for a in named if len(a[1].split()) > 1]
    decided = [(a[0], a[1], rule(a[1], a[2], a[3])) for a in answers]
    keep = [d for d in decided if d[0] in (*LENS, L.UNDETERMINED)]
    other = [d for d in decided if d[0] not in (*LENS, L.UNDETERMINED)]
    left_out = [d for d in other if d[2] not in (*LENS, L.UNDETERMINED)]
    english_out = [t for t in english if rule(t, *shares(t[:L.MAX_CHARS])) not in (*LENS, L.UNDETERMINED)]
    return {
        "detector": name, "lines": len(rows), "with_language": len(named),
        "accuracy": sum(a[0] == a[2] for a in named) / len(named),
        "accuracy_one_word": sum(a[0] == a[2] for a in one) / len(one), "one_word": len(one),
        "accuracy_longer": sum(a[0] == a[2] for a in longer) / len(longer),
        "wrongly_left_out": [d[1] for d in keep if d[2] not in (*LENS, L.UNDETERMINED)], "keep": len(keep),
        "other": len(other), "left_out": len(left_out), "left_out_right_code": sum(d[0] == d[2] for d in left_out),
        "english_chat": len(english), "english_left_out": len(english_out), "english_examples": english_out[:3],
        "msg_per_s": speed, "scoring_msg_per_s": scoring, "chatter": len(chat), "load_s": load,
        "added_mib": rss_mib() - before,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="chatter lines timed per detector")
    parser.add_argument("--one", choices=DETECTORS, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.n)))
        return
    results = []
    for name in DETECTORS:
        out = subprocess.run([sys.executable, __file__, f"--one={name}", f"--n={args.n}"],
                             capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        if result is None:
            print(f"{name}: not installed (pip install -e '.[bench]')")
            continue
        results.append(result)
    r0 = results[0]
    print(f"\n{r0['lines']} labelled lines ({r0['with_language']} with a language, {r0['one_word']} of them "
          f"one word; {r0['keep']} English or undetermined, {r0['other']} in other languages); "
          f"{r0['chatter']:,} chatter lines timed; {r0['english_chat']:,} English chat lines for the rule\n")
    print("| detector | top-1 accuracy | one-word | longer | wrongly left out (of "
          f"{r0['keep']}) | others left out (of {r0['other']}) | right code | English chat left out | "
          "msg/s | load s | memory MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        chosen = " (chosen)" if r["detector"] == "py3langid" else ""
        english = (f"{r['english_left_out']} ({100 * r['english_left_out'] / r['english_chat']:.2f}%)"
                   if r["english_chat"] else "–")
        print(f"| {r['detector']}{chosen} | {r['accuracy']:.3f} | {r['accuracy_one_word']:.3f} | "
              f"{r['accuracy_longer']:.3f} | {len(r['wrongly_left_out'])} | {r['left_out']} | "
              f"{r['left_out_right_code']} | {english} | {r['msg_per_s']:,.0f} | {r['load_s']:.1f} | "
              f"{r['added_mib']:.0f} |")
    print(f"\nAs scoring runs it (py3langid, the rule, each 1,024-row unit's distinct texts once): "
          f"{r0['scoring_msg_per_s']:,.0f} msg/s")
    for r in results:
        if r["wrongly_left_out"] or r["english_examples"]:
            print(f"{r['detector']}: wrongly left out {r['wrongly_left_out'][:5]}; English chat e.g. "
                  f"{r['english_examples']}")


if __name__ == "__main__":
    main()
