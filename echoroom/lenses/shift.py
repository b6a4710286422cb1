"""Where meaning shifts between a message's author and its readers: the kind of shift and a score.

``kind`` names how the two lenses' top emotions differ: ``misread`` (two different emotions),
``tone_lost`` (an emotion read as neutral), ``tone_added`` (neutral read as an emotion) or ``none``.

``score`` is the probability of a shift, in [0, 1], from the evidence measured to matter
(docs/labels.md): how far apart the two distributions are (Jensen-Shannon divergence), whether the
top emotions differ, the gap between the author's and the reader's valence, and the probability
that the author meant the message sarcastically. The weights are a logistic regression fitted by
``jobs/fit_shift.py`` on held-out training data where both sides were measured (iSarcasmEval posts,
by their own authors' sarcasm; EmoBank sentences, by a large writer-reader valence gap), and are
saved with the author lens (``LensInfo.shift``). The same formula runs in SQL (the
``shift_score`` macro of queries/schema.sql) and here; tests check they agree. A lens pair
without fitted weights scores a message by its divergence alone.
"""

from __future__ import annotations

import numpy as np

from echoroom.labels import LABELS

FEATURES = ("js_divergence", "differ", "abs_valence_gap", "sarcasm")
KINDS = ("misread", "tone_lost", "tone_added", "none")
DEFAULT_THRESHOLD = 0.6  # measured: docs/labels.md, "Kinds of shift, and the shift score"


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (base 2, in [0, 1]) between rows of p and q."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    m = (p + q) / 2

    def kl(a):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(a > 0, a * np.log2(a / m), 0.0).sum(-1)
    return np.clip(0.5 * kl(p) + 0.5 * kl(q), 0.0, 1.0)


def kind(author_emotion: str, reader_emotion: str) -> str:
    if author_emotion == reader_emotion:
        return "none"
    if reader_emotion == "neutral":
        return "tone_lost"
    if author_emotion == "neutral":
        return "tone_added"
    return "misread"


def features(author: np.ndarray, reader: np.ndarray, gap: np.ndarray | None = None,
             sarcasm: np.ndarray | None = None) -> np.ndarray:
    """(n, 4) FEATURES from both lenses' distributions, the valence gap and the sarcasm probability
    (missing scales count as 0, as in SQL)."""
    n = len(author)
    gap = np.zeros(n) if gap is None else np.nan_to_num(np.abs(np.asarray(gap, np.float64)))
    sarcasm = np.zeros(n) if sarcasm is None else np.nan_to_num(np.asarray(sarcasm, np.float64))
    differ = (np.asarray(author).argmax(1) != np.asarray(reader).argmax(1)).astype(np.float64)
    return np.column_stack([js_divergence(author, reader), differ, gap, sarcasm])


def score(x: np.ndarray, model: dict | None) -> np.ndarray:
    """The shift score of feature rows ``x`` under ``model`` ({"bias": b, feature: weight, ...})."""
    if not model:
        return x[:, 0]
    z = model["bias"] + x @ np.array([model[f] for f in FEATURES])
    return 1 / (1 + np.exp(-z))


def fit(x: np.ndarray, y: np.ndarray, groups: np.ndarray, l2: float = 1e-3) -> dict:
    """Logistic regression of ``y`` (a shift happened) on feature rows from several sources.

    Each source (``groups``) weighs the same, each class is balanced within it, and each source has
    its own intercept, so the weights say how the evidence separates shift from no shift *within*
    a source rather than how the sources differ; the saved bias is the mean intercept, so 0.5
    means "as likely as not". Every weight is kept at or above zero: each feature is evidence
    *for* a shift, and a negative weight fitted on small proxy sets (a valence gap that happens to
    run the other way on EmoBank) would rank messages by the absence of evidence.
    """
    from scipy.optimize import minimize
    names, index = np.unique(groups, return_inverse=True)
    w = np.zeros(len(y))
    for k in range(len(names)):
        for c in (0, 1):
            sel = (index == k) & (y == c)
            if sel.any():
                w[sel] = 1.0 / sel.sum()
    w = w / w.sum()
    nb = len(names)

    def loss(theta):
        z = theta[:nb][index] + x @ theta[nb:]
        grad_z = w * (1 / (1 + np.exp(-z)) - y)
        nll = np.sum(w * (np.logaddexp(0, z) - y * z)) + l2 * np.sum(theta[nb:] ** 2)
        return nll, np.concatenate([np.bincount(index, grad_z, nb), x.T @ grad_z + 2 * l2 * theta[nb:]])

    bounds = [(None, None)] * nb + [(0.0, None)] * x.shape[1]
    theta = minimize(loss, np.zeros(nb + x.shape[1]), jac=True, method="L-BFGS-B", bounds=bounds).x
    return {"bias": round(float(theta[:nb].mean()), 6),
            **{f: round(float(c), 6) for f, c in zip(FEATURES, theta[nb:])}}


def describe(author_probs: np.ndarray, reader_probs: np.ndarray, gap: float | None, sarcasm: float | None,
             model: dict | None) -> dict:
    """One message's shift, as ``echoroom predict`` prints it."""
    x = features(author_probs[None], reader_probs[None], None if gap is None else np.array([gap]),
                 None if sarcasm is None else np.array([sarcasm]))
    a, r = LABELS[int(author_probs.argmax())], LABELS[int(reader_probs.argmax())]
    return {"kind": kind(a, r), "score": float(score(x, model)[0]), "js_divergence": float(x[0, 0])}
