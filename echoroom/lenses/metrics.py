"""Classification metrics used by training (dev) and by the evaluation job (test).

scikit-learn computes them; this module only fixes the choices our reports rely on: which labels a
mean runs over, zero (not a warning) for a label never predicted, and results as plain Python
values for JSON. Expected calibration error is ours: scikit-learn has reliability curves for binary
problems only.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support
from sklearn.preprocessing import MultiLabelBinarizer

from echoroom.labels import DAILYDIALOG_LABELS, LABEL2ID, LABELS, TO_DAILYDIALOG

ALL = list(range(len(LABELS)))


def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(accuracy_score(y, pred)) if len(y) else 0.0


def per_class(y: np.ndarray, pred: np.ndarray, classes=None) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of each class in ``classes`` (default: all 10 labels)."""
    classes = ALL if classes is None else list(classes)
    p, r, f, n = precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    return {LABELS[c]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(n[i])}
            for i, c in enumerate(classes)}


def macro_f1(y: np.ndarray, pred: np.ndarray, classes=None) -> float:
    """Mean F1 over ``classes`` (default: the labels present in ``y``, not those only predicted)."""
    classes = np.unique(y) if classes is None else classes
    return float(f1_score(y, pred, labels=list(classes), average="macro", zero_division=0))


def weighted_f1(y: np.ndarray, pred: np.ndarray) -> float:
    return float(f1_score(y, pred, labels=np.unique(y), average="weighted", zero_division=0))


def confusion(y: np.ndarray, pred: np.ndarray) -> list[list[int]]:
    """Rows are true labels, columns predicted, both in LABELS order (all 10, present or not)."""
    return confusion_matrix(y, pred, labels=ALL).tolist()


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


def dailydialog_metrics(probs: np.ndarray, labels: list[str]) -> dict:
    """A lens's 10-label distributions scored on DailyDialog's 7 classes (labels.TO_DAILYDIALOG)."""
    to7 = np.zeros((len(LABELS), len(DAILYDIALOG_LABELS)), np.float32)
    for ours, theirs in TO_DAILYDIALOG.items():
        to7[LABEL2ID[ours], DAILYDIALOG_LABELS.index(theirs)] = 1.0
    p7 = probs @ to7
    # Each class's own target reads back as that class (tests/test_labels.py checks it).
    y = np.array([DAILYDIALOG_LABELS.index(TO_DAILYDIALOG[x]) for x in labels])
    pred = p7.argmax(1)
    classes = list(range(len(DAILYDIALOG_LABELS)))
    per = per_class(y, pred, classes).values()  # in the order of classes (keyed by our names: renamed below)
    return {"n": int(len(y)), "accuracy": accuracy(y, pred), "macro_f1": macro_f1(y, pred, classes),
            "ece": expected_calibration_error(p7, y)["ece"],
            "per_class_f1": {c: v["f1"] for c, v in zip(DAILYDIALOG_LABELS, per)},
            "true_counts": {c: int((y == i).sum()) for i, c in enumerate(DAILYDIALOG_LABELS)},
            "predicted_counts": {c: int((pred == i).sum()) for i, c in enumerate(DAILYDIALOG_LABELS)}}

def multilabel_f1(pred_sets: list[set[str]], true_sets: list[set[str]]) -> dict[str, float]:
    """Micro F1, macro F1 over the labels that occur in ``true_sets``, and exact-set match."""
    if not true_sets:
        return {"micro_f1": 0.0, "macro_f1": 0.0, "exact_match": 0.0}
    binarize = MultiLabelBinarizer(classes=list(LABELS))
    truth, pred = binarize.fit_transform(true_sets), binarize.transform(pred_sets)
    present = np.flatnonzero(truth.sum(0)).tolist()
    macro = f1_score(truth, pred, labels=present, average="macro", zero_division=0) if present else 0.0
    return {"micro_f1": float(f1_score(truth, pred, average="micro", zero_division=0)),
            "macro_f1": float(macro), "exact_match": float(accuracy_score(truth, pred))}


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def bootstrap_interval(stat, *arrays, rounds: int = 1000, seed: int = 0, level: float = 0.95) -> list[float]:
    """Percentile bootstrap interval of ``stat(*arrays)`` resampling rows together."""
    rng = np.random.default_rng(seed)
    n = len(arrays[0])
    values = [stat(*(np.asarray(a)[idx] for a in arrays)) for idx in (rng.integers(0, n, n) for _ in range(rounds))]
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return [float(lo), float(hi)]


def scale_quality(predicted: np.ndarray, truth: np.ndarray, probability: bool) -> dict:
    """A scale head against its truth: Pearson r for a rating; AUC and F1 at 0.5 for a probability."""
    if not probability:
        return {"pearson_r": pearson(predicted, truth), "n": int(len(truth))}
    from sklearn.metrics import roc_auc_score
    p = 1 / (1 + np.exp(-np.asarray(predicted, np.float64)))
    y = np.asarray(truth) > 0.5
    return {"auc": float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else 0.5,
            "f1_positive": float(f1_score(y, p >= 0.5, zero_division=0)), "n": int(len(truth))}
