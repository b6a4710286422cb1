"""Turning dev-set logits into calibrated distributions and multi-label sets.

Three steps, all fitted on the dev split only and saved in lens.json:
1. ``tune_bias``: per-label logit offsets that trade a little accuracy on the dominant neutral
   class for recall on the rare ones (macro-F1). Top-1 decisions change; distributions stay
   distributions.
2. ``fit_temperature``: one temperature minimising dev negative log-likelihood (Guo et al. 2017).
3. ``tune_thresholds``: per-label probability thresholds maximising per-label F1, because a fixed
   0.5 on a 10-way softmax almost never fires for a second label.
"""

from __future__ import annotations

import numpy as np
import torch

from echoroom.lenses.metrics import accuracy, macro_f1


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


BIAS_GRID = np.linspace(-3, 3, 25)  # logit offsets tried per label


def tune_bias(logits: np.ndarray, labels: np.ndarray, rounds: int = 3, grid: np.ndarray = BIAS_GRID,
              accuracy_weight: float = 1.0, allowed: np.ndarray | None = None) -> np.ndarray:
    """Coordinate ascent on per-label offsets for macro-F1 + accuracy_weight * accuracy
    (``allowed``: per example, the labels that count as right; default its label alone)."""
    bias = np.zeros(logits.shape[1])
    present = np.unique(labels)

    def score(b):
        pred = allowed_predictions(logits + b, labels, allowed)
        return macro_f1(labels, pred, present) + accuracy_weight * accuracy(labels, pred)

    best = score(bias)
    for _ in range(rounds):
        for c in range(logits.shape[1]):
            for v in grid:
                trial = bias.copy()
                trial[c] = v
                s = score(trial)
                if s > best + 1e-9:
                    best, bias = s, trial
    return bias - bias.mean()


def nll(logp: torch.Tensor, targets: torch.Tensor, any_of: bool) -> torch.Tensor:
    """Per-example negative log-likelihood of log-probabilities against target rows: soft
    cross-entropy, or with ``any_of`` minus the log of the summed probability of every label
    with a share of the target (the labels the example may be read as)."""
    if any_of:
        return -torch.logsumexp(logp.masked_fill(targets <= 0, float("-inf")), -1)
    return -(targets * logp).sum(-1)


def fit_temperature(logits: np.ndarray, targets: np.ndarray, any_of: bool = False) -> float:
    z = torch.tensor(logits, dtype=torch.float64)
    t = torch.tensor(targets, dtype=torch.float64)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure():
        opt.zero_grad()
        loss = nll(torch.log_softmax(z / log_t.exp(), dim=-1), t, any_of).mean()
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


def tune_thresholds(probs: np.ndarray, multi_hot: np.ndarray) -> np.ndarray:
    """Per label, the threshold in [0.05, 0.95] with the best F1 on dev (0.5 if the label is absent)."""
    out = np.full(probs.shape[1], 0.5)
    grid = np.linspace(0.05, 0.95, 91)
    for c in range(probs.shape[1]):
        y = multi_hot[:, c] > 0
        if not y.any():
            continue
        best = -1.0
        for th in grid:
            p = probs[:, c] >= th
            tp = (p & y).sum()
            f1 = 2 * tp / max(p.sum() + y.sum(), 1)
            if f1 > best:
                best, out[c] = f1, th
    return out


def allowed_predictions(logits: np.ndarray, labels: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """Top-1 predictions, where a prediction in an example's allowed set counts as its label."""
    pred = logits.argmax(1)
    if allowed is None:
        return pred
    return np.where(allowed[np.arange(len(pred)), pred], labels, pred)


def calibrate(logits: np.ndarray, targets: np.ndarray, any_of: bool, with_bias: bool = True,
              accuracy_weight: float = 1.0) -> dict:
    """Bias, temperature and thresholds for one lens from its dev logits, and its dev metrics.

    With ``any_of`` an example's target is the set of labels it may be read as (DailyDialog
    happiness: joy, love, gratitude or pride): any of them counts as right, the likelihood is
    their summed probability, and thresholds are tuned on single-label examples only.
    """
    y = targets.argmax(1)
    allowed = targets > 0 if any_of else None
    bias = np.zeros(logits.shape[1])
    if with_bias:
        bias = tune_bias(logits, y, accuracy_weight=accuracy_weight, allowed=allowed)
    temperature = fit_temperature(logits + bias, targets, any_of=any_of)
    probs = softmax((logits + bias) / temperature)
    single = (targets > 0).sum(1) == 1 if any_of else np.ones(len(y), bool)
    thresholds = tune_thresholds(probs[single], (targets[single] > 0).astype(np.float32))
    before, after = allowed_predictions(logits, y, allowed), allowed_predictions(probs, y, allowed)
    return {"bias": bias, "temperature": temperature, "thresholds": thresholds,
            "dev": {"accuracy": accuracy(y, after), "macro_f1": macro_f1(y, after),
                    "accuracy_before_bias": accuracy(y, before), "macro_f1_before_bias": macro_f1(y, before)}}


def scale_fit(raw: np.ndarray, truth: np.ndarray, probability: bool) -> tuple[float, float]:
    """(offset, factor) mapping a scale head's raw output onto its scale, fitted on held-out
    examples: least squares onto the 1-5 rating, or Platt scaling onto a probability."""
    if not probability:
        factor, offset = np.polyfit(raw, truth, 1)
        return float(offset), float(factor)
    x = torch.tensor(raw, dtype=torch.float64)
    t = torch.tensor(truth, dtype=torch.float64)
    ab = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([ab], lr=0.1, max_iter=200)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(ab[0] + ab[1] * x, t)
        loss.backward()
        return loss

    opt.step(closure)
    return float(ab[0].detach()), float(ab[1].detach())
