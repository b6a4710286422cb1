"""Figures of the training data: label distributions before and after balancing, text lengths.

    python -m jobs.eda            # writes docs/evaluation/eda_*.png and eda.json

"Before" is each dataset's own labels (GoEmotions' 28, EmpatheticDialogues' 32 situation
emotions); "after" is what the lenses train on once mapped onto our 10, with GoEmotions' neutral
capped and the reader's borrowed neutral added, under the training job's default settings.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from echoroom import settings as S
from echoroom.labels import LABELS
from echoroom.lenses import data as D
from echoroom.lenses import figures as F
from jobs.train import Settings as TrainSettings
from jobs.train import load_task

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    out_dir: str = str(ROOT / "docs" / "evaluation")
    data_dir: str = ""


def counts(labels: list[str], stage: str) -> pl.DataFrame:
    return pl.DataFrame({"label": labels}).group_by("label").len("count").with_columns(stage=pl.lit(stage))


def main(argv: list[str] | None = None) -> dict:
    s = S.parse(Settings, sys.argv[1:] if argv is None else argv)
    print(f"eda:\n{S.describe(s)}", flush=True)
    out = Path(s.out_dir)
    root = s.data_dir or None
    train = TrainSettings(data_dir=s.data_dir)
    raw_ge = pl.read_parquet(D.data_dir(root) / "goemotions" / "train.parquet")
    raw_ed = D.empathetic("train", text="first_turn", root=root)
    ed_all = pl.read_parquet(D.data_dir(root) / "empatheticdialogues" / "train.parquet").filter(
        pl.col("utterance_idx") == 1)
    summary = {}
    for lens, before in (("author", counts(raw_ge["label_names"].explode().to_list(), "before: source labels")),
                         ("reader", counts(ed_all["context"].to_list(), "before: source labels"))):
        texts, targets = load_task(lens, "train", train)
        after = pl.DataFrame({"label": list(LABELS), "count": targets.sum(0).round().astype(int).tolist(),
                              "stage": "after: our 10, balanced"})
        frame = pl.concat([before, after.with_columns(pl.col("count").cast(pl.UInt32))])
        F.save_png(F.label_counts(frame, f"{lens} lens training labels, before and after mapping/balancing"),
                   out / f"eda_{lens}_labels.png")
        summary[lens] = {"before": dict(before.select("label", "count").iter_rows()),
                         "after": dict(after.select("label", "count").iter_rows()), "examples": len(texts)}
    lengths = pl.concat([
        pl.DataFrame({"dataset": "GoEmotions", "words": raw_ge["text"].str.split(" ").list.len()}),
        pl.DataFrame({"dataset": "EmpatheticDialogues first turn", "words": raw_ed["text"].str.split(" ").list.len()}),
    ]).with_columns(pl.col("words").clip(upper_bound=120))
    F.save_png(F.length_histogram(lengths.sample(n=min(20_000, len(lengths)), seed=0),
                                  "text length (words, 120+ grouped)"), out / "eda_lengths.png")
    summary["length_quantiles"] = {d: {q: float(g["words"].quantile(q)) for q in (0.5, 0.9, 0.99)}
                                   for (d,), g in lengths.group_by("dataset")}
    (out / "eda.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary["length_quantiles"], indent=2))
    return summary


if __name__ == "__main__":
    main()
