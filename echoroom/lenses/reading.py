"""The one batching path: texts -> every lens's calibrated distribution, tokenized once,
deduplicated, in length-sorted batches filled to a token budget.

``LensSet.predict`` and the scoring stage's ``Scorer`` both read through ``Reader``. Speed comes
from doing less work: each distinct text is read once, texts are tokenized once for every lens,
and batches of similar lengths waste little on padding. The default budget (1024 padded tokens)
is sized for CPU caches: on 2 cores it scores ~45% more messages/s than 8192 (docs/scoring.md);
on a GPU raise it (e.g. 16384). A read that fits in one batch runs on one thread (``one_thread``).

This module knows a lens set only by what it uses (``tokenizer``: a ``tokenizers.Tokenizer``,
``max_length``, ``text_prep``, ``outputs`` and ``readings``), so ``model`` can import it without a
cycle.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import numpy as np
import torch

from echoroom.labels import NUM_LABELS
from echoroom.lenses.text import prepare


@contextmanager
def one_thread():
    """Small work on one thread. Every parallel region waits for all threads, and on a busy 2-core
    machine each wait can last a scheduler slice: at a load average of ~7, loading the lenses took
    0.6-2.0 s on two threads against 0.1-0.45 s on one, reading one line 0.4-1.0 s against 0.02-0.1 s.
    The caller's count is restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class Reader:
    """A lens set's readings of a list of texts, in batches of at most ``batch_tokens`` padded
    tokens and ``max_batch`` texts."""

    def __init__(self, lenses, batch_tokens: int = 1024, max_batch: int = 256):
        self.lenses = lenses
        self.batch_tokens = batch_tokens
        self.max_batch = max_batch
        self.pad_id = lenses.tokenizer.token_to_id("[PAD]") or 0  # masked out: never changes a reading

    def tokenize(self, texts: list[str]) -> tuple[list[list[int]], np.ndarray]:
        """Token ids cut to the model limit, and whether each text had to be cut."""
        limit = self.lenses.max_length
        # The tokenizer reads a whole text before truncating it (one 10 MB message: 2.2 GB), so texts
        # are cut first, to a length within which the model's limit is reached unless the text is
        # mostly blank: a WordPiece token covers at most ~100 characters (a longer word is one [UNK]).
        # Such a text counts as cut.
        cap = 128 * limit
        long = np.array([len(t) > cap for t in texts], dtype=bool)
        texts = prepare([t[:cap] for t in texts], self.lenses.text_prep)
        # One token over the limit tells us a text was cut; cutting it back and re-appending the
        # final [SEP] gives exactly what truncation at the limit gives.
        tokenizer = self.lenses.tokenizer
        tokenizer.no_padding()  # each batch is padded in ``read``, to its longest text
        tokenizer.enable_truncation(limit + 1)
        ids = [e.ids for e in tokenizer.encode_batch_fast(texts)]
        cut = np.array([len(x) > limit for x in ids], dtype=bool) | long
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

    def read(self, texts: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """({output: values}, tokens read (n,), truncated (n,)) for every text, duplicates included:
        each lens's distribution (n, 10) under its name, its scales (n,) as ``lens_scale``."""
        unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True) if texts else ([], [])
        unique = list(unique)
        probs = {n: np.zeros((len(unique), NUM_LABELS) if n in self.lenses.names else len(unique), np.float32)
                 for n in self.lenses.outputs}
        ids, cut = self.tokenize(unique) if unique else ([], np.zeros(0, bool))
        lengths = np.array([len(x) for x in ids], dtype=np.int64)
        # All token ids in one flat array: each padded batch is then one gather, no Python per row.
        flat = np.fromiter((t for x in ids for t in x), dtype=np.int64, count=int(lengths.sum()))
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(ids) else lengths
        batches = self.batches(lengths)
        with one_thread() if len(batches) == 1 else nullcontext():  # e.g. `echoroom predict "one line"`
            for idx in batches:
                width = int(lengths[idx].max())
                valid = np.arange(width) < lengths[idx, None]
                pos = np.where(valid, starts[idx, None] + np.arange(width), 0)
                input_ids = torch.from_numpy(np.where(valid, flat[pos], self.pad_id))
                mask = torch.from_numpy(valid.astype(np.int64))
                for name, p in self.lenses.readings(input_ids, mask).items():
                    probs[name][idx] = p.float().cpu().numpy()
        inverse = np.asarray(inverse, dtype=np.int64)
        return ({n: p[inverse] for n, p in probs.items()}, lengths[inverse], cut[inverse])
