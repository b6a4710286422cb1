"""Measure the training options of issue 2 side by side (docs/training.md quotes the table).

Two steps, so the sweep can run on a lent GPU machine that has torch but not polars or our data:

    python bench/sweep_lenses.py prepare DIR      # here: exports every variant's examples as Parquet
    python bench/sweep_lenses.py run DIR OUT      # there: trains each variant, evaluates, writes OUT/sweep.json

Choices are made on dev; test figures are shown beside them for the record. Each variant is a
plain ``jobs.train`` run with ``--prepared_dir``; every variant evaluates on the same probe sets:
GoEmotions single-label (dev, test), EmpatheticDialogues first turns (dev, test; 9 of our labels)
and GoEmotions neutral-only messages (dev, test), the last read by the reader lens to show how
often a neutral message would look like a shift.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobs.train import Settings, task_key  # noqa: E402

BASE = dict(epochs=2.0)
VARIANTS = {  # in the order they run: the most informative first
    "shared": dict(lenses="author,reader"),
    "reader_no_neutral": dict(lenses="reader", reader_neutral_fraction=0.0),
    "author_drop": dict(lenses="author", label_policy="drop"),
    "reader_prompt": dict(lenses="reader", reader_text="prompt"),
    "author_alone": dict(lenses="author"),
    "reader_alone": dict(lenses="reader"),
    "author_full_finetune": dict(lenses="author", full_finetune=True, lr=5e-5, head_lr=5e-5, class_weight_power=0.0,
                                 tune_bias=False),
    "reader_prompt_first_turn": dict(lenses="reader", reader_text="prompt_first_turn", max_length=128),
    "author_no_class_weights": dict(lenses="author", class_weight_power=0.0),
    "reader_speaker_turns": dict(lenses="reader", reader_text="speaker_turns"),
    "shared_3_epochs": dict(lenses="author,reader", epochs=3.0),
}


def settings_for(name: str, **extra) -> Settings:
    return replace(Settings(), **{**BASE, **VARIANTS[name], **extra})


def prepare(out: Path) -> None:
    import polars as pl

    from echoroom.lenses import data as D
    from jobs.train import load_task

    out.mkdir(parents=True, exist_ok=True)
    for name in VARIANTS:
        s = settings_for(name)
        for lens in s.lens_names:
            for split in ("train", "dev"):
                path = out / f"{task_key(lens, split, s)}.parquet"
                if not path.exists():
                    texts, targets = load_task(lens, split, s)
                    pl.DataFrame({"text": texts, "target": targets.tolist()}).write_parquet(path)
    probes = {}
    for split in ("dev", "test"):
        probes[f"author_{split}"] = D.goemotions_single_label(split)
        probes[f"reader_{split}"] = D.empathetic(split, text="first_turn")
        probes[f"reader_prompt_{split}"] = D.empathetic(split, text="prompt")
        probes[f"reader_prompt_first_turn_{split}"] = D.empathetic(split, text="prompt_first_turn")
        ge = D.goemotions_single_label(split)
        probes[f"neutral_{split}"] = ge.filter(pl.col("label") == "neutral")
    for key, df in probes.items():
        df.select("text", "label").write_parquet(out / f"probe-{key}.parquet")
    print(f"prepared {len(list(out.glob('*.parquet')))} files in {out}")


def run(prepared: Path, out: Path, encoder: str, only: list[str]) -> None:
    import numpy as np
    import pyarrow.parquet as pq
    import torch

    from echoroom.labels import LABEL2ID
    from echoroom.lenses.metrics import accuracy, macro_f1
    from echoroom.lenses.model import LensSet
    from jobs.train import main as train

    device = "cuda" if torch.cuda.is_available() else "cpu"
    budget = 16384 if device == "cuda" else 1024  # padded tokens per batch (docs/scoring.md)
    probes = {p.stem[len("probe-"):]: pq.read_table(p).to_pydict() for p in prepared.glob("probe-*.parquet")}
    results_path = out / "sweep.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for name in only or VARIANTS:
        if name in results:
            continue
        t0 = time.time()
        lens_dir = out / "lenses" / name
        quick = {"max_steps": int(os.environ["SWEEP_MAX_STEPS"])} if os.environ.get("SWEEP_MAX_STEPS") else {}
        s = settings_for(name, prepared_dir=str(prepared), encoder=encoder, out_dir=str(lens_dir), log_every=200,
                         **quick)
        args = [f"--{k}={v}" for k, v in s.__dict__.items()]
        res = train(args)
        row = {"settings": VARIANTS[name], "train_seconds": res["train_seconds"], "steps": res["steps"],
               "dev": {k: v["dev"] for k, v in res["lenses"].items()}}
        if not s.full_finetune:
            lenses = LensSet({n: lens_dir / n for n in s.lens_names}, device=device)
            reader_probe = "reader" if s.reader_text in ("first_turn", "speaker_turns") else f"reader_{s.reader_text}"
            for lens in s.lens_names:
                wanted = [f"{reader_probe if lens == 'reader' else 'author'}_{split}" for split in ("dev", "test")]
                for key in wanted + ["neutral_dev", "neutral_test"]:
                    probe = probes[key]
                    probs = lenses.predict(probe["text"], batch_size=256, batch_tokens=budget)[lens]
                    y = np.array([LABEL2ID[x] for x in probe["label"]])
                    pred = probs.argmax(1)
                    row[f"{lens}:{key}"] = ({"neutral_rate": accuracy(y, pred)} if key.startswith("neutral") else
                                            {"accuracy": accuracy(y, pred), "macro_f1": macro_f1(y, pred)})
        row["wall_seconds"] = time.time() - t0
        results[name] = row
        results_path.write_text(json.dumps(results, indent=2))
        print(f"SWEEP {name}: {json.dumps({k: v for k, v in row.items() if ':' in k or k == 'dev'})}", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(Path(sys.argv[2]))
    else:
        run(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else "all-MiniLM-L6-v2",
            sys.argv[5].split(",") if len(sys.argv) > 5 else [])
