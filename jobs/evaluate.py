"""Evaluate the committed lenses on the official test splits; write metrics.json, figures, model cards.

    python -m jobs.evaluate                          # full test splits + frozen-encoder baselines
    python -m jobs.evaluate --sample=300 --baselines=false --out_dir=/tmp/eval   # the CI check

Protocol (docs/evaluation.md says the same in prose):
- author lens: GoEmotions official test, the 2,587 examples whose one and only label is among our
  10; top-1 of the calibrated distribution against that label. Multi-label: every test example with
  at least one of our labels, predicted label set (per-label dev thresholds) against its labels.
- reader lens: EmpatheticDialogues official test conversations whose emotion maps to ours, read
  through their first speaker turn: top-1 against the mapped emotion. Neutral: GoEmotions test
  examples labelled only neutral, read by the reader lens. Chat: DailyDialog's official validation
  split (its test split is withheld), every utterance on its own (detokenized), scored on
  DailyDialog's 7 classes: our joy, love, gratitude and pride count as happiness, neutral as no
  emotion (labels.TO_DAILYDIALOG); macro-F1 over the 7 classes, ECE on the summed probabilities.
- emoji: the GoEmotions single-label test examples that contain an emoji, read by the author lens;
  and what both lenses say of a few emoji-only lines.
- scales and shift (lenses with scale heads; echoroom/lenses/judging.py): EmoBank's official dev
  split, Pearson r of each valence/arousal head with the ratings from its perspective (author:
  writer's, reader: reader's) and of the predicted valence gap with the real writer - reader gap
  (95% bootstrap interval, 1000 resamples); iSarcasmEval dev (a fixed 20% of its training release,
  never trained or tuned on): AUC and F1 of the sarcastic class (probability >= 0.5); the shift
  score's AUC for sarcastic vs not and for large (top quartile of EmoBank train) vs small valence
  gaps, next to the Jensen-Shannon divergence's; GoEmotions test (single label) flagged before
  (top emotions differ) and now (shift_score >= the default threshold, 0.6), per kind.
- baselines: mean-pooled frozen all-MiniLM-L6-v2 embeddings + logistic regression trained on the
  same training examples as the lens (hard label = largest target share).
- ``--sample=N`` evaluates a fixed, seeded sample of N examples per test set (used by the tests).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from echoroom import settings as S
from echoroom.labels import LABEL2ID, LABELS, map_goemotions
from echoroom.lenses import DEFAULT_LENSES_DIR
from echoroom.lenses import data as D
from echoroom.lenses import figures as F
from echoroom.lenses.judging import flagged, scales_and_shift
from echoroom.lenses.metrics import (
    accuracy,
    confusion,
    dailydialog_metrics,
    expected_calibration_error,
    macro_f1,
    multilabel_f1,
    per_class,
    weighted_f1,
)
from echoroom.lenses.model import LensSet

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    lenses_dir: str = str(DEFAULT_LENSES_DIR)
    out_dir: str = str(ROOT / "docs" / "evaluation")
    data_dir: str = ""
    sample: int = 0              # >0: a seeded sample of this many examples per test set
    baselines: bool = True       # frozen-encoder logistic regression on the same training data
    figures: bool = True
    model_cards: bool = True     # write MODEL_CARD.md and metrics.json into each lens folder
    batch_size: int = 64
    seed: int = 13


def _sample(df: pl.DataFrame, s: Settings) -> pl.DataFrame:
    return df.sample(n=min(s.sample, len(df)), seed=s.seed) if s.sample else df


def single_label_metrics(probs: np.ndarray, y: np.ndarray, classes: list[int]) -> dict:
    pred = probs.argmax(1)
    calib = expected_calibration_error(probs, y)
    return {
        "n": int(len(y)), "accuracy": accuracy(y, pred), "macro_f1": macro_f1(y, pred, classes),
        "weighted_f1": weighted_f1(y, pred), "per_class": per_class(y, pred, classes),
        "confusion": confusion(y, pred), "ece": calib["ece"], "calibration_bins": calib["bins"],
        "true_counts": {LABELS[c]: int((y == c).sum()) for c in classes},
        "predicted_counts": {l: int((pred == i).sum()) for i, l in enumerate(LABELS)},
    }


EMOJI_LINES = ("😂😂😂", "❤️", "👏👏👏", "group hug 🤗🤗", "😡", "😢😢", "🎉🎉🎉", "🙄")


def frozen_baseline(train_texts, train_targets, test_sets: dict, s: Settings) -> dict:
    """Logistic regression on mean-pooled embeddings of the untouched encoder."""
    import torch
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoModel, AutoTokenizer

    from echoroom.lenses.model import mean_pool, resolve_encoder

    path = resolve_encoder(None)
    tok, enc = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()

    @torch.inference_mode()
    def embed(texts):
        out = []
        for i in range(0, len(texts), 128):
            b = tok(texts[i:i + 128], padding=True, truncation=True, max_length=64, return_tensors="pt")
            out.append(mean_pool(enc(**b).last_hidden_state, b["attention_mask"]).numpy())
        return np.concatenate(out)

    clf = LogisticRegression(max_iter=2000, C=1.0)
    clf.fit(embed(train_texts), train_targets.argmax(1))
    result = {}
    for name, (texts, y, classes) in test_sets.items():
        pred = clf.classes_[clf.predict_proba(embed(texts)).argmax(1)]
        result[name] = {"accuracy": accuracy(y, pred), "macro_f1": macro_f1(y, pred, classes)}
    return result


def interval(bounds: list[float]) -> str:
    return f"[{bounds[0]:.3f}, {bounds[1]:.3f}] (95% bootstrap)"


def model_cards(folders: dict, metrics: dict, infos: dict, versions: dict, shared: bool, sample: int) -> None:
    """MODEL_CARD.md and metrics.json in each lens folder, from this evaluation's metrics."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    from echoroom.report.render import TEMPLATES_DIR  # the checkout's reports/, or the installed package's

    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), undefined=StrictUndefined,
                      autoescape=False, keep_trailing_newline=True)  # Markdown, not HTML
    for lens, folder in folders.items():
        summary = {k: v for k, v in metrics[lens].items() if k not in ("confusion", "calibration_bins")}
        (Path(folder) / "metrics.json").write_text(json.dumps(
            {"version": versions[lens], "protocol": metrics["protocol"], lens: summary,
             "shift": metrics["shift"]}, indent=2) + "\n")
        (Path(folder) / "MODEL_CARD.md").write_text(env.get_template("model_card.md.j2").render(
            lens=lens, info=infos[lens], m=metrics[lens], shift=metrics["shift"], labels=LABELS,
            scales=metrics.get("scales"),
            shared=shared, sample=sample))


def main(argv: list[str] | None = None) -> dict:
    s = S.parse(Settings, sys.argv[1:] if argv is None else argv)
    print(f"evaluate:\n{S.describe(s)}", flush=True)
    t0 = time.time()
    root = s.data_dir or None
    folders = {"author": Path(s.lenses_dir) / "author", "reader": Path(s.lenses_dir) / "reader"}
    lenses = LensSet(folders)
    infos = lenses.infos  # parsed once by LensSet
    out = Path(s.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics: dict = {"settings": asdict(s), "versions": lenses.versions, "protocol": __doc__.split("Protocol")[1]}

    # --- author lens ---
    ge = _sample(D.goemotions_single_label("test", root=root), s)
    y = np.array([LABEL2ID[x] for x in ge["label"]])
    texts = ge["text"].to_list()
    both = lenses.predict(texts, s.batch_size)
    author = single_label_metrics(both["author"], y, list(range(len(LABELS))))
    policy = infos["author"].settings.get("label_policy", "drop")
    full = _sample(D.goemotions("test", policy=policy, root=root), s)
    full_probs = lenses.predict(full["text"].to_list(), s.batch_size)["author"]
    author["multilabel"] = multilabel_f1([set(x) for x in lenses.label_sets("author", full_probs)],
                                         [set(x) for x in full["labels"].to_list()])
    author["multilabel"]["n"] = len(full)
    # Real chat is not pre-filtered: what the lens says of test messages whose every label is outside ours.
    raw = _sample(pl.read_parquet(D.data_dir(root) / "goemotions" / "test.parquet"), s)
    outside = raw.filter(pl.Series([not map_goemotions(n, "drop") for n in raw["label_names"].to_list()]))
    if len(outside):
        out_pred = lenses.predict(outside["text"].to_list(), s.batch_size)["author"].argmax(1)
        table: dict[str, Counter] = {}
        for names, p in zip(outside["label_names"].to_list(), out_pred):
            table.setdefault(names[0], Counter())[LABELS[p]] += 1
        author["outside_labels"] = {k: dict(v.most_common(3)) | {"n": sum(v.values())}
                                    for k, v in sorted(table.items())}
    metrics["author"] = author

    # --- reader lens ---
    reader_text = infos["reader"].settings.get("reader_text", "first_turn")
    ed = _sample(D.empathetic("test", text=reader_text, root=root), s)
    ed_y = np.array([LABEL2ID[x] for x in ed["label"]])
    ed_classes = sorted(set(ed_y.tolist()))
    reader = single_label_metrics(lenses.predict(ed["text"].to_list(), s.batch_size)["reader"], ed_y, ed_classes)
    reader["text"] = reader_text
    neutral_mask = y == LABEL2ID["neutral"]
    reader_on_neutral = both["reader"][neutral_mask].argmax(1)
    author_on_neutral = both["author"][neutral_mask].argmax(1)
    reader["neutral_rate_on_goemotions_neutral"] = float((reader_on_neutral == LABEL2ID["neutral"]).mean())
    dd = _sample(D.dailydialog("validation", root=root), s)
    reader["dailydialog_validation"] = dailydialog_metrics(
        lenses.predict(dd["text"].to_list(), s.batch_size)["reader"], dd["label"].to_list())
    metrics["reader"] = reader

    # --- emoji ---
    import emoji

    has_emoji = np.array([emoji.emoji_count(t) > 0 for t in texts])
    if has_emoji.any():
        probs = both["author"][has_emoji]
        metrics["author"]["goemotions_test_with_emoji"] = {
            "n": int(has_emoji.sum()), "accuracy": accuracy(y[has_emoji], probs.argmax(1)),
            "macro_f1": macro_f1(y[has_emoji], probs.argmax(1), sorted(set(y[has_emoji].tolist())))}
    lines = lenses.predict(list(EMOJI_LINES), s.batch_size)
    metrics["emoji_lines"] = {t: {n: f"{LABELS[int(lines[n][i].argmax())]} {lines[n][i].max():.2f}"
                                  for n in lenses.names} for i, t in enumerate(EMOJI_LINES)}
    metrics["shift"] = {
        "goemotions_test_single_label_shift_rate": float((both["author"].argmax(1) != both["reader"].argmax(1)).mean()),
        "neutral_messages_shift_rate": float((author_on_neutral != reader_on_neutral).mean()),
    }

    # --- scales and shift, where both sides were measured ---
    scales = scales_and_shift(lenses, root, s.sample, s.batch_size)
    if scales:
        metrics["scales"] = {k: v for k, v in scales.items() if k != "shift"}
        metrics["shift"] |= scales["shift"]
        metrics["shift"]["goemotions_test_flagged"] = flagged(
            both["author"], both["reader"], both["author_valence"] - both["reader_valence"], both["author_sarcasm"],
            infos["author"].shift, labels=y)
        e, q, sh = scales["emobank_dev"], scales["sarcasm_dev"], scales["shift"]
        print(f"EmoBank dev (n={e['n']}): r author valence {e['author_valence_r']:.3f} arousal "
              f"{e['author_arousal_r']:.3f}, reader valence {e['reader_valence_r']:.3f} arousal "
              f"{e['reader_arousal_r']:.3f}; gap r {e['gap_r']:.3f} {interval(e['gap_r_interval95'])}\n"
              f"sarcasm dev (n={q['n']}): AUC {q['auc']:.3f} {interval(q['auc_interval95'])} F1-sarcastic "
              f"{q['f1_sarcastic']:.3f} at 0.5, {q['f1_sarcastic_tuned']:.3f} at {q['tuned_threshold']:.2f} "
              f"(tuned on the tune share)\n"
              f"shift score AUC: sarcastic {sh['sarcasm_dev']['auc_shift_score']:.3f} (JSD "
              f"{sh['sarcasm_dev']['auc_js_divergence']:.3f}, gain "
              f"{interval(sh['sarcasm_dev']['auc_gain_over_js_interval95'])}), "
              f"large gap {sh['emobank_dev']['auc_shift_score']:.3f} "
              f"(JSD {sh['emobank_dev']['auc_js_divergence']:.3f})", flush=True)
        by_label = metrics["shift"]["goemotions_test_flagged"]["shifted_by_label"]
        print("GoEmotions test flagged shifted, by label: " + ", ".join(
            f"{k} {v['shifted']:.1%} of {v['n']}" for k, v in by_label.items()), flush=True)

    # --- baselines ---
    if s.baselines:
        from jobs.train import Settings as TrainSettings
        from jobs.train import load_task

        for lens, test_sets in (("author", {"goemotions_test": (texts, y, list(range(len(LABELS))))}),
                                ("reader", {"empathetic_test": (ed["text"].to_list(), ed_y, ed_classes)})):
            allowed = TrainSettings.__dataclass_fields__
            ts = TrainSettings(**{k: v for k, v in infos[lens].settings.items() if k in allowed})
            tr_texts, tr_targets = load_task(lens, "train", ts)
            print(f"baseline {lens}: embedding {len(tr_texts)} training texts", flush=True)
            metrics[lens]["baseline_frozen_logreg"] = frozen_baseline(tr_texts, tr_targets, test_sets, s)

    metrics["seconds"] = time.time() - t0
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    for lens in ("author", "reader"):
        m = metrics[lens]
        print(f"{lens}: n={m['n']} accuracy {m['accuracy']:.4f} macro-F1 {m['macro_f1']:.4f} "
              f"weighted-F1 {m['weighted_f1']:.4f} ECE {m['ece']:.4f}"
              + (f" | baseline {m['baseline_frozen_logreg']}" if "baseline_frozen_logreg" in m else ""), flush=True)
    d = metrics["reader"]["dailydialog_validation"]
    print(f"reader on DailyDialog validation: n={d['n']} accuracy {d['accuracy']:.4f} macro-F1 (7 classes) "
          f"{d['macro_f1']:.4f} ECE {d['ece']:.4f}", flush=True)
    if "goemotions_test_with_emoji" in metrics["author"]:
        e = metrics["author"]["goemotions_test_with_emoji"]
        print(f"author on GoEmotions test with emoji: n={e['n']} accuracy {e['accuracy']:.4f} "
              f"macro-F1 {e['macro_f1']:.4f}", flush=True)
    for line, said in metrics["emoji_lines"].items():
        print(f"  {line}: " + ", ".join(f"{k} {v}" for k, v in said.items()), flush=True)

    # --- figures and model cards ---
    if s.figures:
        for lens, title in (("author", "GoEmotions test (single label)"), ("reader", "EmpatheticDialogues test")):
            m = metrics[lens]
            F.save_png(F.confusion(m["confusion"], f"{lens} lens: {title}"), out / f"{lens}_confusion.png")
            F.save_png(F.distributions(m["true_counts"], m["predicted_counts"], f"{lens} lens: true vs predicted"),
                       out / f"{lens}_distribution.png")
            F.save_png(F.per_class(m["per_class"], f"{lens} lens: per-class precision / recall / F1"),
                       out / f"{lens}_per_class.png")
            F.save_png(F.reliability(m["calibration_bins"], m["ece"], f"{lens} lens calibration"),
                       out / f"{lens}_calibration.png")
    if s.model_cards:
        model_cards(folders, metrics, infos, lenses.versions, shared=len(lenses.groups) == 1, sample=s.sample)
    print(f"evaluate: done in {time.time() - t0:.0f}s -> {out}", flush=True)
    return metrics


if __name__ == "__main__":
    main()
