"""Classification metrics used by training (dev) and by the evaluation job (test)."""

from __future__ import annotations

import numpy as np

from echoroom.labels import LABELS


def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float((np.asarray(y) == np.asarray(pred)).mean()) if len(y) else 0.0


def per_class(y: np.ndarray, pred: np.ndarray, classes=None) -> dict[str, dict[str, float]]:
    classes = range(len(LABELS)) if classes is None else classes
    out = {}
    for c in classes:
        tp = int(((pred == c) & (y == c)).sum())
        fp = int(((pred == c) & (y != c)).sum())
        fn = int(((pred != c) & (y == c)).sum())
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        out[LABELS[c]] = {"precision": p, "recall": r, "f1": f, "support": int((y == c).sum())}
    return out


def macro_f1(y: np.ndarray, pred: np.ndarray, classes=None) -> float:
    """Mean F1 over ``classes`` (default: the labels present in ``y``)."""
    classes = np.unique(y) if classes is None else classes
    return float(np.mean([v["f1"] for v in per_class(y, pred, classes).values()]))


def weighted_f1(y: np.ndarray, pred: np.ndarray) -> float:
    stats = per_class(y, pred, np.unique(y))
    total = sum(v["support"] for v in stats.values())
    return float(sum(v["f1"] * v["support"] for v in stats.values()) / total)


def confusion(y: np.ndarray, pred: np.ndarray) -> list[list[int]]:
    m = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    np.add.at(m, (y, pred), 1)
    return m.tolist()


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> dict:
    """Top-label ECE with equal-width confidence bins (Guo et al. 2017), plus the bins for plots."""
    conf = probs.max(1)
    correct = probs.argmax(1) == y
    edges = np.linspace(0, 1, bins + 1)
    ece, table = 0.0, []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            gap = abs(correct[m].mean() - conf[m].mean())
            ece += m.mean() * gap
            table.append({"lo": float(lo), "hi": float(hi), "count": int(m.sum()),
                          "accuracy": float(correct[m].mean()), "confidence": float(conf[m].mean())})
    return {"ece": float(ece), "bins": table}


def multilabel_f1(pred_sets: list[set[str]], true_sets: list[set[str]]) -> dict[str, float]:
    tp = sum(len(p & t) for p, t in zip(pred_sets, true_sets))
    fp = sum(len(p - t) for p, t in zip(pred_sets, true_sets))
    fn = sum(len(t - p) for p, t in zip(pred_sets, true_sets))
    micro = 2 * tp / max(2 * tp + fp + fn, 1)
    per = []
    for name in LABELS:
        ptp = sum(1 for p, t in zip(pred_sets, true_sets) if name in p and name in t)
        pp = sum(1 for p in pred_sets if name in p)
        tt = sum(1 for t in true_sets if name in t)
        if tt:
            per.append(2 * ptp / (pp + tt))
    exact = float(np.mean([p == t for p, t in zip(pred_sets, true_sets)])) if true_sets else 0.0
    return {"micro_f1": micro, "macro_f1": float(np.mean(per)) if per else 0.0, "exact_match": exact}
