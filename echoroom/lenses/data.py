"""Training and evaluation data for the two lenses, read from one configurable folder.

The folder defaults to ``../shared/data`` (relative to the working directory) and is set with the
``ECHOROOM_DATA`` environment variable or the jobs' ``--data_dir``. It holds the GoEmotions and
EmpatheticDialogues Parquet splits described in its SOURCES.md; nothing here copies them.

Every loader returns a polars DataFrame with at least ``text`` and ``target`` (a list of 10
floats in ``LABELS`` order that sums to 1: multi-label examples share the mass equally).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import polars as pl

from echoroom.labels import (
    DAILYDIALOG_LABELS,
    LABEL2ID,
    LABELS,
    NUM_LABELS,
    READER_TEXTS,
    dailydialog_set,
    map_dailydialog,
    map_empathetic,
    map_goemotions,
)

DEFAULT_DATA_DIR = "../shared/data"
GOEMOTIONS_SPLITS = {"train": "train", "dev": "dev", "test": "test"}
EMPATHETIC_SPLITS = {"train": "train", "dev": "valid", "test": "test"}
# DailyDialog's official test split is withheld, and its validation split is where the reader lens
# is judged (jobs/evaluate.py): so training tunes on a dev set cut from train, every 20th dialogue.
DAILYDIALOG_DEV_EVERY = 20
READER_SOURCES = ("empatheticdialogues", "dailydialog")
# How DailyDialog's one positive class is learnt: as "any of joy, love, gratitude, pride" (the
# loss rewards the summed probability, labels.dailydialog_set) or as joy alone.
DAILYDIALOG_TARGETS = ("any_of", "joy")
# iSarcasmEval ships one training split: a fixed share of it, chosen by a fixed seed whatever the
# training seed, is the dev split sarcasm is reported on; another share tunes the calibration.
SARCASM_DEV, SARCASM_TUNE, SARCASM_SPLIT_SEED = 0.2, 0.1, 2022
EMOBANK_HELD = 0.1  # EmoBank's dev split is where the scale heads are reported: train holds out its own


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    path = Path(explicit or os.environ.get("ECHOROOM_DATA") or DEFAULT_DATA_DIR)
    if not (path / "goemotions").is_dir() or not (path / "empatheticdialogues").is_dir():
        raise FileNotFoundError(
            f"training data not found in {path.resolve()}: expected goemotions/ and "
            "empatheticdialogues/ Parquet splits there. Set ECHOROOM_DATA (or --data_dir) to the "
            "folder that holds them."
        )
    return path


def _read(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"missing data file {path}; see SOURCES.md in the data folder")
    return pl.read_parquet(path)


def _targets(label_lists: list[list[str]]) -> list[list[float]]:
    out = []
    for labels in label_lists:
        row = [0.0] * NUM_LABELS
        for name in labels:
            row[LABEL2ID[name]] = 1.0 / len(labels)
        out.append(row)
    return out


def goemotions(split: str, *, policy: str = "fold", neutral_cap: int | None = None,
               seed: int = 0, root: str | os.PathLike | None = None) -> pl.DataFrame:
    """GoEmotions mapped onto our labels: columns id, text, source_labels, labels, target.

    Examples left with no label after mapping are removed. ``neutral_cap`` keeps at most that many
    examples whose only label is neutral (a seeded random choice), as the original project did.
    """
    df = _read(data_dir(root) / "goemotions" / f"{GOEMOTIONS_SPLITS[split]}.parquet")
    mapped = [map_goemotions(names, policy) for names in df["label_names"].to_list()]
    df = df.select("id", "text", pl.col("label_names").alias("source_labels")).with_columns(
        pl.Series("labels", mapped, dtype=pl.List(pl.String))
    ).filter(pl.col("labels").list.len() > 0)
    if neutral_cap is not None:
        only_neutral = df["labels"].list.join(",") == "neutral"
        idx = np.flatnonzero(only_neutral.to_numpy())
        if len(idx) > neutral_cap:
            drop = np.random.default_rng(seed).choice(idx, len(idx) - neutral_cap, replace=False)
            keep = np.ones(len(df), dtype=bool)
            keep[drop] = False
            df = df.filter(pl.Series(keep))
    return df.with_columns(pl.Series("target", _targets(df["labels"].to_list()),
                                     dtype=pl.List(pl.Float32)))


def goemotions_single_label(split: str, root: str | os.PathLike | None = None) -> pl.DataFrame:
    """The evaluation subset: examples whose one and only GoEmotions label is one of our 10."""
    df = _read(data_dir(root) / "goemotions" / f"{GOEMOTIONS_SPLITS[split]}.parquet")
    df = df.filter((pl.col("label_names").list.len() == 1)
                   & pl.col("label_names").list.first().is_in(list(LABELS)))
    return df.select("id", "text", pl.col("label_names").list.first().alias("label"))


def empathetic(split: str, *, text: str = "first_turn",
               root: str | os.PathLike | None = None) -> pl.DataFrame:
    """EmpatheticDialogues conversations whose emotion maps to ours: id, text, context, label.

    ``text`` picks what the reader lens reads: the speaker's first turn, the situation prompt,
    both joined, or every speaker turn as its own example (train only; dev/test then use the
    first turn, so that evaluation stays one row per conversation).
    """
    if text not in READER_TEXTS:
        raise ValueError(f"unknown reader text {text!r}; expected one of {READER_TEXTS}")
    df = _read(data_dir(root) / "empatheticdialogues" / f"{EMPATHETIC_SPLITS[split]}.parquet")
    df = df.with_columns(pl.col("context").map_elements(map_empathetic, return_dtype=pl.String)
                         .alias("label")).filter(pl.col("label").is_not_null())
    if text == "speaker_turns" and split == "train":
        rows = df.filter(pl.col("speaker_role") == "speaker").with_columns(
            (pl.col("conv_id") + ":" + pl.col("utterance_idx").cast(pl.String)).alias("id"),
            pl.col("utterance").alias("text"))
    else:
        rows = df.filter(pl.col("utterance_idx") == 1).with_columns(pl.col("conv_id").alias("id"))
        rows = rows.with_columns({
            "first_turn": pl.col("utterance"),
            "speaker_turns": pl.col("utterance"),
            "prompt": pl.col("prompt"),
            "prompt_first_turn": pl.col("prompt") + " " + pl.col("utterance"),
        }[text].alias("text"))
    return rows.select("id", "text", "context", "label")


_SPACE_BEFORE = re.compile(r" +([,.!?;:%)])")
_APOSTROPHE = re.compile(r" ?’ ?| ' (?=(s|t|re|ve|ll|d|m)\b)")


def detokenize(text: str) -> str:
    """DailyDialog's text is pre-tokenized ("Say , Jim , it ' s late ."): written back as people
    type it ("Say, Jim, it's late."), so the lens learns from chat-shaped text."""
    return _SPACE_BEFORE.sub(r"\1", _APOSTROPHE.sub("'", text)).replace("( ", "(").strip()


def dailydialog(split: str, *, neutral_cap: int | None = None, seed: int = 0,
                root: str | os.PathLike | None = None) -> pl.DataFrame:
    """DailyDialog utterances with our label: id, dialog_id, turn, text, context, label.

    ``split`` is train (every dialogue but each 20th), dev (each 20th training dialogue) or
    validation (the official validation split, kept for evaluation). ``neutral_cap`` keeps at most
    that many "no emotion" utterances (a seeded random choice): 83% of DailyDialog is neutral.
    """
    source = "validation" if split == "validation" else "train"
    df = _read(data_dir(root) / "dailydialog" / f"{source}.parquet")
    if split in ("train", "dev"):
        held = (pl.col("dialog_id") % DAILYDIALOG_DEV_EVERY) == 0
        df = df.filter(held if split == "dev" else ~held)
    elif split != "validation":
        raise ValueError(f"unknown DailyDialog split {split!r}; expected train, dev or validation")
    df = df.with_columns(
        pl.format("dd-{}-{}-{}", pl.lit(source), pl.col("dialog_id"), pl.col("turn")).alias("id"),
        pl.col("utterance").map_elements(detokenize, return_dtype=pl.String).alias("text"),
        pl.col("emotion").cast(pl.Int64).map_elements(map_dailydialog, return_dtype=pl.String).alias("label"),
    ).with_columns(pl.col("label").alias("context"), pl.col("emotion").cast(pl.Int64).map_elements(
        lambda code: list(dailydialog_set(DAILYDIALOG_LABELS[code])), return_dtype=pl.List(pl.String)
    ).alias("labels"))
    if neutral_cap is not None:
        neutral = df.filter(pl.col("label") == "neutral")
        if len(neutral) > neutral_cap:
            neutral = neutral.sample(n=neutral_cap, seed=seed)
        df = pl.concat([df.filter(pl.col("label") != "neutral"), neutral]).sort("dialog_id", "turn")
    return df.select("id", "dialog_id", "turn", "text", "context", "label", "labels")


def reader_data(split: str, *, text: str = "first_turn", neutral_fraction: float = 0.0,
                sources: tuple[str, ...] = ("empatheticdialogues",), dailydialog_neutral_cap: int | None = None,
                dailydialog_target: str = "any_of", seed: int = 0,
                root: str | os.PathLike | None = None) -> pl.DataFrame:
    """The reader lens's data: EmpatheticDialogues, DailyDialog, and borrowed neutral examples.

    EmpatheticDialogues has no neutral situations, so a reader lens trained on it alone must
    call every message emotional. DailyDialog brings everyday chat whose emotions (and lack of
    them) were judged by readers of the dialogue. ``neutral_fraction`` adds GoEmotions examples
    whose raters agreed on neutral alone (from the same split), making that share of the result
    neutral. See docs/labels.md for why these sources and what they mean.

    ``target`` spreads an example's mass over every label it may be read as: one label, except
    DailyDialog happiness with ``dailydialog_target="any_of"`` (its four positive labels; the
    reader loss then rewards their summed probability, jobs/train.py).
    """
    if dailydialog_target not in DAILYDIALOG_TARGETS:
        raise ValueError(f"unknown DailyDialog target {dailydialog_target!r}; expected one of {DAILYDIALOG_TARGETS}")
    unknown = sorted(set(sources) - set(READER_SOURCES))
    if unknown or not sources:
        raise ValueError(f"unknown reader source(s) {unknown or sources}; expected some of {READER_SOURCES}")
    parts = []
    if "empatheticdialogues" in sources:
        ed = empathetic(split, text=text, root=root)
        parts.append(ed.with_columns(pl.lit("empatheticdialogues").alias("source"),
                                     pl.concat_list("label").alias("labels")))
    if "dailydialog" in sources:
        dd = dailydialog(split, neutral_cap=dailydialog_neutral_cap if split == "train" else None,
                         seed=seed, root=root)
        if dailydialog_target == "joy":
            dd = dd.with_columns(pl.concat_list("label").alias("labels"))
        parts.append(dd.select("id", "text", "context", "label", pl.lit("dailydialog").alias("source"), "labels"))
    ed = pl.concat(parts)
    if neutral_fraction > 0:
        n = int(round(len(ed) * neutral_fraction / (1 - neutral_fraction)))
        ge = _read(data_dir(root) / "goemotions" / f"{GOEMOTIONS_SPLITS[split]}.parquet")
        ge = ge.filter(pl.col("label_names").list.join(",") == "neutral")
        ge = ge.sample(n=min(n, len(ge)), seed=seed, shuffle=True)
        ge = ge.select("id", "text", pl.lit("neutral").alias("context"), pl.lit("neutral").alias("label"),
                       pl.lit("goemotions").alias("source"), pl.concat_list(pl.lit("neutral")).alias("labels"))
        ed = pl.concat([ed, ge])
    return ed.with_columns(pl.Series("target", _targets(ed["labels"].to_list()), dtype=pl.List(pl.Float32)))


def emobank(split: str, root: str | os.PathLike | None = None) -> pl.DataFrame:
    """EmoBank sentences with valence and arousal, 1-5, as raters judged the writer felt
    (``writer_V``, ``writer_A``) and as they felt reading it (``reader_V``, ``reader_A``).

    ``split`` is train or dev (EmoBank's own), or fit / held: train without and with only its last
    ``EMOBANK_HELD`` share (in file order, which keeps a document's sentences together). The scale
    heads learn from fit; held maps them onto 1-5 and fits the shift score; dev is only reported.
    """
    if split not in ("train", "dev", "fit", "held"):
        raise ValueError(f"unknown EmoBank split {split!r}; expected train, fit, held or dev "
                         "(its test split is reserved)")
    df = _read(data_dir(root) / "emobank" / f"{'dev' if split == 'dev' else 'train'}.parquet")
    df = df.filter(pl.col("text").str.strip_chars().str.len_chars() > 0).select(
        "id", "text", "writer_V", "writer_A", "reader_V", "reader_A")
    cut = int(len(df) * (1 - EMOBANK_HELD))
    return df[:cut] if split == "fit" else df[cut:] if split == "held" else df


def emobank_large_gap(quantile: float = 0.75, root: str | os.PathLike | None = None) -> float:
    """The writer-reader valence gap that counts as large: ``quantile`` of |writer_V - reader_V|
    over the fit share of EmoBank train."""
    fit = emobank("fit", root=root)
    return float(np.quantile(np.abs((fit["writer_V"] - fit["reader_V"]).to_numpy()), quantile))


def sarcasm(split: str, *, rephrases: bool = True, root: str | os.PathLike | None = None) -> pl.DataFrame:
    """iSarcasmEval posts with their authors' own label: id, text, sarcastic (0/1), source.

    ``split`` is train, tune or dev (fixed shares of the one released split, SARCASM_*). In train,
    ``rephrases`` adds each sarcastic post's literal rewrite by its author as a non-sarcastic
    example: the same topic and words without the sarcasm, so the head cannot learn topic alone.
    """
    if split not in ("train", "tune", "dev"):
        raise ValueError(f"unknown sarcasm split {split!r}; expected train, tune or dev")
    df = _read(data_dir(root) / "isarcasmeval" / "train.parquet")
    draw = np.random.default_rng(SARCASM_SPLIT_SEED).random(len(df))
    part = np.where(draw < SARCASM_DEV, "dev", np.where(draw < SARCASM_DEV + SARCASM_TUNE, "tune", "train"))
    df = df.filter(pl.Series(part == split)).filter(pl.col("tweet").is_not_null()
                                                    & (pl.col("tweet").str.strip_chars() != ""))
    posts = df.select(pl.format("isarcasm-{}", pl.col("row")).alias("id"), pl.col("tweet").alias("text"),
                      pl.col("sarcastic").cast(pl.Int8), pl.lit("post").alias("source"))
    if split == "train" and rephrases:
        literal = df.filter((pl.col("sarcastic") == 1) & pl.col("rephrase").is_not_null()
                            & (pl.col("rephrase").str.strip_chars() != ""))
        posts = pl.concat([posts, literal.select(
            pl.format("isarcasm-{}-rephrase", pl.col("row")).alias("id"), pl.col("rephrase").alias("text"),
            pl.lit(0, pl.Int8).alias("sarcastic"), pl.lit("rephrase").alias("source"))])
    return posts


def sarcasm_background(n: int, *, seed: int = 0, root: str | os.PathLike | None = None) -> pl.DataFrame:
    """``n`` everyday lines as non-sarcastic sarcasm examples: id, text, sarcastic (0), source.

    iSarcasmEval's sarcastic posts are often thanks or praise said bitterly, and its other posts are
    rarely thanks at all, so a head trained on it alone reads every short thank-you as 0.4-0.6
    sarcastic (docs/evaluation.md). Half are GoEmotions train comments, half DailyDialog train
    utterances (a seeded choice). Nobody labelled them for sarcasm: they are negatives because
    sarcasm is rare in them, a weak label (docs/training.md).
    """
    half = n // 2
    comments = _read(data_dir(root) / "goemotions" / f"{GOEMOTIONS_SPLITS['train']}.parquet")
    comments = comments.sample(n=min(n - half, len(comments)), seed=seed).select(
        pl.format("ge-{}", pl.col("id")).alias("id"), "text", pl.lit("goemotions").alias("source"))
    chat = dailydialog("train", root=root)
    chat = chat.sample(n=min(half, len(chat)), seed=seed).select("id", "text", pl.lit("dailydialog").alias("source"))
    return pl.concat([comments, chat]).select(
        "id", "text", pl.lit(0, pl.Int8).alias("sarcastic"), "source")
