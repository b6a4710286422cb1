"""Scoring's view of the lenses: ``Scorer`` reads texts through the lenses' one batching path
(``echoroom.lenses.reading``) and ``predict_table`` turns a unit of the corpus into the rows a
shard holds: language, status, skip reason, truncation and each lens's predictions.
"""

from __future__ import annotations

import os
import warnings

# oneDNN compiles a kernel for every (batch, length) shape of a matrix product and by default keeps
# up to 1024 of them, so peak memory grew with the corpus (+200 MiB from 20k to 200k messages,
# bench/bench_score.py --memory). Without any cache, though, every bf16 product is compiled again
# on every call and the fast path is no faster than fp32 (bench/fast_path.py, docs/scoring.md "Fast
# path"). A batch needs three shapes (the 384-wide products, the FFN's in and out), so a few kept
# give the speed and bound the memory. fp32 products run through MKL and are not affected.
# It must be set before the process's first matrix product; a value set by the user wins.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")
# PyTorch's own cache of oneDNN products in front of it (ideep's, keyed by the product's exact
# (rows, inner, outer) sizes, 1024 by default) held the rest of the growth: each unit's last,
# partial batches have row counts no other batch has, so new keys (~200 KB each) kept coming until
# 1024: +204 MiB of glibc memory in use on random batch shapes, flat at 64 (2026-11-27, docs/scoring.md
# "Memory"), at the same speed (898 and 960 msg/s at 64 against 922 and 779 at 1024, bf16, same run).
os.environ.setdefault("LRU_CACHE_CAPACITY", "64")

from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import torch  # noqa: E402

from echoroom.labels import LABELS, NUM_LABELS  # noqa: E402
from echoroom.lenses.model import LensSet  # noqa: E402
from echoroom.lenses.reading import Reader  # noqa: E402
from echoroom.scoring.language import LanguageDetector  # noqa: E402
from echoroom.scoring.settings import PRECISIONS  # noqa: E402

LENSES = ("author", "reader")
# Characters that show nothing: zero-width space, non-joiner and joiner, word joiner, byte-order mark
# and the replacement character. Text of only these and whitespace is skipped as "empty text".
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\ufffd"))
PROBS_TYPE = pa.list_(pa.float32(), NUM_LABELS)
# Every lens's scale columns exist in a shard, NULL where its lens has no such scale (the reader
# lens reads no sarcasm; lenses trained before the scale heads read none).
SCALES = ("valence", "arousal", "sarcasm")


# Padded tokens per batch when none is given (batch_tokens=0), measured on 2 cores: fp32 is fastest
# at 1024 (activations stay in cache: docs/scoring.md, Performance), bf16 at 4096 (AMX tiles fill
# better: 1,005-1,054 msg/s against 928 at 1024 and 543 at 512; docs/scoring.md, Fast path).
BATCH_TOKENS = {"fp32": 1024, "bf16": 4096}


class Bf16Encoder(torch.nn.Module):
    """The fast path: the encoder's weights and activations in bfloat16, its output back in float32
    for the heads. On CPUs with AMX or AVX512-BF16 oneDNN runs the products natively; its accuracy
    and macro-F1 on both test sets are fp32's within 0.5 points and it flags the same messages
    ``shifted`` (docs/scoring.md, "Fast path"). int8 is faster still but moves the metrics by up to
    3 points: MiniLM's LayerNorm outputs have outlier features that an int8 scale cannot hold."""

    def __init__(self, encoder: torch.nn.Module):
        super().__init__()
        self.encoder = encoder.to(torch.bfloat16)
        self.config = encoder.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return SimpleNamespace(last_hidden_state=hidden.float())


def native_bf16(device: str = "cpu") -> bool:
    """Whether bf16 products run in hardware here (else they are emulated, slower than fp32)."""
    if not device.startswith("cpu"):
        return True
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def resolve_precision(precision: str, device: str = "cpu") -> str:
    """``auto``: bf16 where the hardware runs it natively (same quality, 2-3x the speed on CPU),
    else fp32, which is also the choice for bit-for-bit reproducible probabilities."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: expected one of {PRECISIONS}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


class Scorer(Reader):
    """Both lenses over a list of texts, as the scoring job stores them: the lenses' one batching
    path (``Reader``: tokenize once, dedupe, length-sorted token-budget batches; ``batch_tokens`` 0:
    the precision's own budget, ``BATCH_TOKENS``) at a ``precision`` (``PRECISIONS``; bf16 runs the
    ``Bf16Encoder``), and the ``languages`` they read (``echoroom.scoring.language``: messages
    confidently in another language are left out).

    bf16 predictions are stored under the lenses' own versions: the lens is the same model at the
    same measured quality, as fp32 under another batch size is (docs/scoring.md, "Fast path"). The
    precision a run used is in its settings (``runs.settings``)."""

    def __init__(self, lenses: LensSet, batch_tokens: int = 0, max_batch: int = 256,
                 precision: str = "fp32", languages: tuple[str, ...] = ("en",)):
        self.precision = resolve_precision(precision, lenses.device)
        super().__init__(lenses, batch_tokens or BATCH_TOKENS[self.precision], max_batch)
        self.languages = LanguageDetector(languages)
        if self.precision == "bf16":
            if not native_bf16(lenses.device):
                warnings.warn("this CPU has neither AMX nor AVX512-BF16: bf16 runs emulated, slower than "
                              "fp32; score with precision fp32 (or auto)", RuntimeWarning, stacklevel=2)
            for model in lenses.models:
                model.encoder = Bf16Encoder(model.encoder)

    @property
    def versions(self) -> dict[str, str]:
        return self.lenses.versions


def blank(text: str) -> bool:
    """Whether ``text`` shows nothing: only whitespace and invisible characters."""
    return not text.translate(_INVISIBLE).strip()


def predict_table(scorer: Scorer, table: pa.Table) -> pa.Table:
    """A canonical message table plus language, status, truncation and each lens's predictions
    (emotion, confidence, distribution, label set, and its scales: ``SCALES``)."""
    texts = table.column("text").to_pylist()
    languages = scorer.languages.detect(texts)
    reasons = [("null text" if t is None else "empty text" if blank(t) else scorer.languages.reason(lang))
               for t, lang in zip(texts, languages)]
    keep = [i for i, r in enumerate(reasons) if r is None]
    probs, n_tokens, cut = scorer.read([texts[i] for i in keep])
    n = table.num_rows
    cols = {
        "language": pa.array(languages, pa.string()),
        "status": pa.array(["skipped" if r else "scored" for r in reasons], pa.string()),
        "skip_reason": pa.array(reasons, pa.string()),
    }
    full_cut = np.zeros(n, bool)
    full_cut[keep] = cut
    tokens = [None] * n
    for j, i in enumerate(keep):
        tokens[i] = int(n_tokens[j])
    cols["truncated"] = pa.array(full_cut)
    cols["n_tokens"] = pa.array(tokens, pa.int32())
    for name in LENSES:
        p = probs[name]
        top = p.argmax(1) if len(p) else np.zeros(0, np.int64)
        sets = scorer.lenses.label_sets(name, p)
        emo, conf, vec, lab = [None] * n, [None] * n, [None] * n, [None] * n
        for j, i in enumerate(keep):
            emo[i], conf[i], vec[i], lab[i] = LABELS[top[j]], float(p[j, top[j]]), p[j].tolist(), sets[j]
        cols[f"{name}_emotion"] = pa.array(emo, pa.string())
        cols[f"{name}_confidence"] = pa.array(conf, pa.float32())
        cols[f"{name}_probs"] = pa.array(vec, PROBS_TYPE)
        cols[f"{name}_labels"] = pa.array(lab, pa.list_(pa.string()))
        for scale in SCALES:
            values = [None] * n
            if f"{name}_{scale}" in probs:
                for j, i in enumerate(keep):
                    values[i] = float(probs[f"{name}_{scale}"][j])
            cols[f"{name}_{scale}"] = pa.array(values, pa.float32())
    for key, col in cols.items():
        table = table.append_column(key, col)
    return table
