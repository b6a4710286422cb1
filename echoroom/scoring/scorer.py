"""The one batching path: texts -> both lenses, tokenized once, deduplicated, length-sorted batches
filled to a token budget. ``LensSet`` users (predict, the job, the benchmark) all go through ``Scorer``.
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

LENSES = ("author", "reader")
PROBS_TYPE = pa.list_(pa.float32(), NUM_LABELS)


class Scorer:
    """Both lenses over a list of texts: tokenize once, dedupe, length-sorted token-budget batches."""

    def __init__(self, lenses: LensSet, batch_tokens: int = 1024, max_batch: int = 256,
                 quantize: bool = False):
        self.lenses = lenses
        self.batch_tokens = batch_tokens
        self.max_batch = max_batch
        self.quantize = quantize
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
        self.pad_id = lenses.tokenizer.pad_token_id

    @property
    def versions(self) -> dict[str, str]:
        """Lens versions as stored: int8 predictions are not the fp32 model's, so they are kept apart."""
        suffix = "+int8" if self.quantize else ""
        return {n: v + suffix for n, v in self.lenses.versions.items()}

    def tokenize(self, texts: list[str]) -> tuple[list[list[int]], np.ndarray]:
        """Token ids cut to the model limit, and whether each text had to be cut."""
        limit = self.lenses.max_length
        # One token over the limit tells us a text was cut; cutting it back and re-appending the
        # final [SEP] gives exactly what truncation at the limit gives.
        ids = self.lenses.tokenizer(texts, truncation=True, max_length=limit + 1,
                                    return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        cut = np.array([len(x) > limit for x in ids], dtype=bool)
        ids = [x[:limit - 1] + x[-1:] if len(x) > limit else x for x in ids]
        return ids, cut

    def batches(self, lengths: np.ndarray) -> list[np.ndarray]:
        """Index batches in ascending length, each at most batch_tokens padded tokens."""
        order = np.argsort(lengths, kind="stable")
        out, start = [], 0
        while start < len(order):
            end = start + 1
            while (end < len(order) and end - start < self.max_batch
                   and (end - start + 1) * lengths[order[end]] <= self.batch_tokens):
                end += 1
            out.append(order[start:end])
            start = end
        return out

    def score(self, texts: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """({lens: probs (n, 10)}, tokens read (n,), truncated (n,)) for every text, duplicates included."""
        unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True) if texts else ([], [])
        unique = list(unique)
        probs = {n: np.zeros((len(unique), NUM_LABELS), np.float32) for n in self.lenses.names}
        ids, cut = self.tokenize(unique) if unique else ([], np.zeros(0, bool))
        lengths = np.array([len(x) for x in ids], dtype=np.int64)
        # All token ids in one flat array: each padded batch is then one gather, no Python per row.
        flat = np.fromiter((t for x in ids for t in x), dtype=np.int64, count=int(lengths.sum()))
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(ids) else lengths
        for idx in self.batches(lengths):
            width = int(lengths[idx].max())
            valid = np.arange(width) < lengths[idx, None]
            pos = np.where(valid, starts[idx, None] + np.arange(width), 0)
            input_ids = torch.from_numpy(np.where(valid, flat[pos], self.pad_id))
            mask = torch.from_numpy(valid.astype(np.int64))
            for name, p in self.lenses.probabilities(input_ids, mask).items():
                probs[name][idx] = p.float().cpu().numpy()
        inverse = np.asarray(inverse, dtype=np.int64)
        return ({n: p[inverse] for n, p in probs.items()}, lengths[inverse], cut[inverse])


def predict_table(scorer: Scorer, table: pa.Table) -> pa.Table:
    """A canonical message table plus status, truncation and each lens's predictions."""
    texts = table.column("text").to_pylist()
    reasons = [("null text" if t is None else "empty text" if not t.strip() else None) for t in texts]
    keep = [i for i, r in enumerate(reasons) if r is None]
    probs, n_tokens, cut = scorer.score([texts[i] for i in keep])
    n = table.num_rows
    cols = {
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
    for key, col in cols.items():
        table = table.append_column(key, col)
    return table
