"""Does the reader lens read chat better with the previous message as context? (issue 10)

    python bench/reader_context.py                 # 800 steps per variant, ~30 min on 2 CPU cores
    python bench/reader_context.py --steps=50      # a smoke run

Two reader lenses are trained the same way (same seed, data order, steps, LoRA adapter over
all-MiniLM-L6-v2, DailyDialog train with happiness as "any of" joy/love/gratitude/pride and 12,000
"no emotion" utterances), one reading each utterance alone and one reading the pair (previous
utterance of the same dialogue, utterance); each is calibrated on DailyDialog dev (every 20th
training dialogue) and scored on DailyDialog's official validation split over its 7 classes
(jobs/evaluate.dailydialog_metrics). It prints both macro-F1s and the difference: the issue adopts
context as the default only for a gain of at least 2 points.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from echoroom.labels import LABELS  # noqa: E402
from echoroom.lenses import data as D  # noqa: E402
from echoroom.lenses.calibration import calibrate, softmax  # noqa: E402
from echoroom.lenses.model import AdapterConfig, EmotionModel, load_encoder  # noqa: E402
from echoroom.lenses.tasks import emotion_loss  # noqa: E402
from jobs.evaluate import dailydialog_metrics  # noqa: E402


def with_previous(split: str, neutral_cap: int | None) -> pl.DataFrame:
    """DailyDialog utterances with the previous utterance of their dialogue ("" for the first)."""
    df = D.dailydialog(split).sort("dialog_id", "turn").with_columns(
        pl.col("text").shift(1).over("dialog_id").fill_null("").alias("previous"))
    if neutral_cap:
        neutral = df.filter(pl.col("label") == "neutral").sample(n=neutral_cap, seed=13)
        df = pl.concat([df.filter(pl.col("label") != "neutral"), neutral])
    return df


def targets(df: pl.DataFrame) -> np.ndarray:
    out = np.zeros((len(df), len(LABELS)), np.float32)
    for i, labels in enumerate(df["labels"].to_list()):
        for x in labels:
            out[i, LABELS.index(x)] = 1.0 / len(labels)
    return out


def encode(tok, df, context: bool, idx, max_length: int):
    texts = [df["text"][int(i)] for i in idx]
    if not context:
        return tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    previous = [df["previous"][int(i)] for i in idx]
    # Each side gets up to max_length tokens: the longer one is cut first, so a long previous
    # message never crowds out the message itself.
    return tok(previous, texts, padding=True, truncation="longest_first", max_length=2 * max_length,
               return_tensors="pt")


@torch.no_grad()
def logits_of(model, tok, df, context: bool, max_length: int) -> np.ndarray:
    model.eval()
    out = []
    for i in range(0, len(df), 128):
        enc = encode(tok, df, context, range(i, min(i + 128, len(df))), max_length)
        out.append(model(enc["input_ids"], enc["attention_mask"], ["reader"])["reader"].float().numpy())
    return np.concatenate(out)


def run(context: bool, train: pl.DataFrame, dev: pl.DataFrame, valid: pl.DataFrame, steps: int) -> dict:
    torch.manual_seed(13)
    tok, encoder = load_encoder(None, AdapterConfig())
    model = EmotionModel(encoder, ["reader"])
    y = torch.tensor(targets(train))
    freq = y.sum(0) / len(y)
    w = torch.where(freq > 0, freq.clamp(min=1e-4) ** -0.3, torch.zeros_like(freq))
    w = w / (w * freq).sum()
    opt = torch.optim.AdamW([{"params": [p for p in model.encoder.parameters() if p.requires_grad], "lr": 1e-3},
                             {"params": model.heads.parameters(), "lr": 3e-3}], weight_decay=0.01)
    order = np.random.default_rng(13).permutation(np.resize(np.arange(len(train)), steps * 32))
    model.train()
    t0 = time.time()
    for step in range(steps):
        idx = order[step * 32:(step + 1) * 32]
        enc = encode(tok, train, context, idx, 64)
        for g, base in zip(opt.param_groups, (1e-3, 3e-3)):
            g["lr"] = base * min(1.0, (step + 1) / (0.06 * steps)) * (1 - step / steps)
        loss = emotion_loss(model(enc["input_ids"], enc["attention_mask"], ["reader"])["reader"],
                            y[idx], w, any_of=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
    seconds = time.time() - t0
    cal = calibrate(logits_of(model, tok, dev, context, 64), targets(dev), any_of=True)
    probs = softmax((logits_of(model, tok, valid, context, 64) + cal["bias"]) / cal["temperature"])
    m = dailydialog_metrics(probs, valid["label"].to_list())
    return {"context": context, "train_seconds": round(seconds, 1), "macro_f1": m["macro_f1"],
            "accuracy": m["accuracy"], "per_class_f1": m["per_class_f1"]}


def main() -> None:
    steps = int(next((a.split("=")[1] for a in sys.argv[1:] if a.startswith("--steps=")), 800))
    torch.set_num_threads(2)
    train, dev, valid = with_previous("train", 12_000), with_previous("dev", None), with_previous("validation", None)
    results = []
    for context in (False, True):
        results.append(run(context, train, dev, valid, steps))
        print(json.dumps(results[-1]), flush=True)
    gain = results[1]["macro_f1"] - results[0]["macro_f1"]
    print(f"DailyDialog validation macro-F1 (7 classes): alone {results[0]['macro_f1']:.4f}, with previous "
          f"message {results[1]['macro_f1']:.4f}: {100 * gain:+.1f} points ({steps} steps each; adopt at >= +2)")


if __name__ == "__main__":
    main()
