"""Does the reader lens read chat better with the previous message as context? (issue 10)

    python bench/reader_context.py                        # 800 steps per variant, one seed, ~30 min on 2 CPU cores
    python bench/reader_context.py --steps=50             # a smoke run
    python bench/reader_context.py --prepare=ctx.json     # the three splits as JSON (needs polars and the data)
    python bench/reader_context.py --data=ctx.json --device=cuda --steps=2000 --seeds=13,14,15   # on a GPU

Two reader lenses are trained the same way (same seed, data order, steps, LoRA adapter over
all-MiniLM-L6-v2, DailyDialog train with happiness as "any of" joy/love/gratitude/pride and 12,000
"no emotion" utterances), one reading each utterance alone and one reading the pair (previous
utterance of the same dialogue, utterance); each is calibrated on DailyDialog dev (every 20th
training dialogue) and scored on DailyDialog's official validation split over its 7 classes
(metrics.dailydialog_metrics). It prints both macro-F1s and the difference per seed, and the mean
difference over seeds: the issue adopts context as the default only for a gain of at least 2 points.
``--prepare`` / ``--data`` split the run so that a machine without polars or the data (a lent GPU)
can train from the prepared JSON.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from echoroom.labels import LABELS  # noqa: E402
from echoroom.lenses.calibration import calibrate, softmax  # noqa: E402
from echoroom.lenses.metrics import dailydialog_metrics  # noqa: E402
from echoroom.lenses.model import AdapterConfig, EmotionModel, load_encoder  # noqa: E402
from echoroom.lenses.tasks import emotion_loss  # noqa: E402


def with_previous(split: str, neutral_cap: int | None) -> dict[str, list]:
    """DailyDialog utterances with the previous utterance of their dialogue ("" for the first), as
    columns text, previous, label, labels."""
    import polars as pl

    from echoroom.lenses import data as D

    df = D.dailydialog(split).sort("dialog_id", "turn").with_columns(
        pl.col("text").shift(1).over("dialog_id").fill_null("").alias("previous"))
    if neutral_cap:
        neutral = df.filter(pl.col("label") == "neutral").sample(n=neutral_cap, seed=13)
        df = pl.concat([df.filter(pl.col("label") != "neutral"), neutral])
    return {c: df[c].to_list() for c in ("text", "previous", "label", "labels")}


def targets(df: dict) -> np.ndarray:
    out = np.zeros((len(df["text"]), len(LABELS)), np.float32)
    for i, labels in enumerate(df["labels"]):
        for x in labels:
            out[i, LABELS.index(x)] = 1.0 / len(labels)
    return out


def encode(tok, df, context: bool, idx, max_length: int, device: str):
    texts = [df["text"][int(i)] for i in idx]
    if not context:
        return tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(device)
    previous = [df["previous"][int(i)] for i in idx]
    # Each side gets up to max_length tokens: the longer one is cut first, so a long previous
    # message never crowds out the message itself.
    return tok(previous, texts, padding=True, truncation="longest_first", max_length=2 * max_length,
               return_tensors="pt").to(device)


@torch.no_grad()
def logits_of(model, tok, df, context: bool, max_length: int, device: str) -> np.ndarray:
    model.eval()
    out, n = [], len(df["text"])
    for i in range(0, n, 128):
        enc = encode(tok, df, context, range(i, min(i + 128, n)), max_length, device)
        out.append(model(enc["input_ids"], enc["attention_mask"], ["reader"])["reader"].float().cpu().numpy())
    return np.concatenate(out)


def run(context: bool, train: dict, dev: dict, valid: dict, steps: int, seed: int, device: str) -> dict:
    torch.manual_seed(seed)
    tok, encoder = load_encoder(None, AdapterConfig())
    model = EmotionModel(encoder, ["reader"]).to(device)
    y = torch.tensor(targets(train)).to(device)
    freq = y.sum(0) / len(y)
    w = torch.where(freq > 0, freq.clamp(min=1e-4) ** -0.3, torch.zeros_like(freq))
    w = w / (w * freq).sum()
    opt = torch.optim.AdamW([{"params": [p for p in model.encoder.parameters() if p.requires_grad], "lr": 1e-3},
                             {"params": model.heads.parameters(), "lr": 3e-3}], weight_decay=0.01)
    order = np.random.default_rng(seed).permutation(np.resize(np.arange(len(train["text"])), steps * 32))
    model.train()
    t0 = time.time()
    for step in range(steps):
        idx = order[step * 32:(step + 1) * 32]
        enc = encode(tok, train, context, idx, 64, device)
        for g, base in zip(opt.param_groups, (1e-3, 3e-3)):
            g["lr"] = base * min(1.0, (step + 1) / (0.06 * steps)) * (1 - step / steps)
        loss = emotion_loss(model(enc["input_ids"], enc["attention_mask"], ["reader"])["reader"],
                            y[idx], w, any_of=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
    seconds = time.time() - t0
    cal = calibrate(logits_of(model, tok, dev, context, 64, device), targets(dev), any_of=True)
    probs = softmax((logits_of(model, tok, valid, context, 64, device) + cal["bias"]) / cal["temperature"])
    m = dailydialog_metrics(probs, valid["label"])
    return {"context": context, "seed": seed, "steps": steps, "device": device,
            "train_seconds": round(seconds, 1), "macro_f1": m["macro_f1"],
            "accuracy": m["accuracy"], "per_class_f1": m["per_class_f1"]}


def main() -> None:
    opts = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    steps = int(opts.get("steps", 800))
    seeds = [int(x) for x in opts.get("seeds", "13").split(",")]
    device = opts.get("device", "cpu")
    if device == "cpu":
        torch.set_num_threads(2)
    if "data" in opts:
        with (gzip.open if opts["data"].endswith(".gz") else open)(opts["data"], "rt") as f:
            splits = json.load(f)
    else:
        splits = {"train": with_previous("train", 12_000), "dev": with_previous("dev", None),
                  "validation": with_previous("validation", None)}
    if "prepare" in opts:
        Path(opts["prepare"]).write_text(json.dumps(splits))
        print(f"wrote {opts['prepare']}: " + ", ".join(f"{k} {len(v['text'])}" for k, v in splits.items()))
        return
    results = []
    for seed in seeds:
        for context in (False, True):
            results.append(run(context, splits["train"], splits["dev"], splits["validation"], steps, seed, device))
            print(json.dumps(results[-1]), flush=True)
        alone, paired = results[-2]["macro_f1"], results[-1]["macro_f1"]
        print(f"seed {seed}: DailyDialog validation macro-F1 (7 classes): alone {alone:.4f}, with previous "
              f"message {paired:.4f}: {100 * (paired - alone):+.1f} points ({steps} steps each)", flush=True)
    gains = [100 * (results[i + 1]["macro_f1"] - results[i]["macro_f1"]) for i in range(0, len(results), 2)]
    print(f"mean gain over {len(seeds)} seed(s): {np.mean(gains):+.2f} points "
          f"(per seed {', '.join(f'{g:+.1f}' for g in gains)}; adopt at >= +2)")
    if "out" in opts:
        Path(opts["out"]).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
