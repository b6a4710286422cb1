"""Scoring's view of the lenses: ``Scorer`` reads texts through the lenses' one batching path
(``echoroom.lenses.reading``) and ``predict_table`` turns a unit of the corpus into the rows a
shard holds: language, status, skip reason, truncation and each lens's predictions.
"""

from __future__ import annotations

import os

# oneDNN caches a compiled kernel for every (batch, length) shape it meets and never evicts below
# its capacity, so peak memory grows with the corpus (+200 MiB from 20k to 200k messages, measured
# with bench/bench_score.py --memory). Without the cache memory stays flat for ~11% of speed.
# It must be set before the process's first matrix product; a value set by the user wins.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "0")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import torch  # noqa: E402

from echoroom.labels import LABELS, NUM_LABELS  # noqa: E402
from echoroom.lenses.model import LensSet  # noqa: E402
from echoroom.lenses.reading import Reader  # noqa: E402
from echoroom.scoring.language import LanguageDetector  # noqa: E402

LENSES = ("author", "reader")
# Characters that show nothing: zero-width space, non-joiner and joiner, word joiner, byte-order mark
# and the replacement character. Text of only these and whitespace is skipped as "empty text".
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\ufffd"))
PROBS_TYPE = pa.list_(pa.float32(), NUM_LABELS)
# Every lens's scale columns exist in a shard, NULL where its lens has no such scale (the reader
# lens reads no sarcasm; lenses trained before the scale heads read none).
SCALES = ("valence", "arousal", "sarcasm")


class Scorer(Reader):
    """Both lenses over a list of texts, as the scoring job stores them: the lenses' one batching
    path (``Reader``: tokenize once, dedupe, length-sorted token-budget batches), optionally with
    an int8 encoder, under versions that say so, and the ``languages`` they read
    (``echoroom.scoring.language``: messages confidently in another language are left out)."""

    def __init__(self, lenses: LensSet, batch_tokens: int = 1024, max_batch: int = 256,
                 quantize: bool = False, languages: tuple[str, ...] = ("en",)):
        super().__init__(lenses, batch_tokens, max_batch)
        self.quantize = quantize
        self.languages = LanguageDetector(languages)
        if quantize:
            # int8 weights for the encoder's Linear layers, activations quantized per batch on the
            # fly (PyTorch dynamic quantization); the heads stay fp32, they cost nothing.
            import warnings
            with warnings.catch_warnings():
                # torch 2.13 announces a move of this API to torchao; it still works and torchao
                # is not installed here. Revisit when torch drops it.
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", UserWarning)
                for model in lenses.models:
                    model.encoder = torch.ao.quantization.quantize_dynamic(
                        model.encoder, {torch.nn.Linear}, dtype=torch.qint8)

    @property
    def versions(self) -> dict[str, str]:
        """Lens versions as stored: int8 predictions are not the fp32 model's, so they are kept apart."""
        suffix = "+int8" if self.quantize else ""
        return {n: v + suffix for n, v in self.lenses.versions.items()}


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
