"""Per-example counts whose sums give a task's primary metric: what the exam's bootstrap resamples.

A paired bootstrap over test examples needs the primary metric of many resamples. Accuracy is a mean of per-example
scores, but F1 is not: it is a function of counts summed over the examples (true positives, predicted and gold
spans). So each task kind turns a model's outputs into an (N, K) array of per-example counts (``example_statistics``)
and a function of their column sums (``metric_of_sums``) that equals its primary metric on the whole test set;
a resample's metric is that function of the resample's sums. The functions here are the shared arithmetic:

- ratio: columns (hits, total) -> hits / total (accuracy; token accuracy);
- span F1: columns (true positives, predicted spans, gold spans) -> 2 tp / (predicted + gold), 0 when both are 0
  (micro F1 with zero_division 0, as seqeval reports it);
- macro F1 over classes: per class (tp, fp, fn) -> the mean over the classes with tp + fp + fn > 0 of
  2 tp / (2 tp + fp + fn) (the classes present in gold or predictions, as ``classification_metrics``).
"""

from __future__ import annotations

import numpy as np


def ratio_of_sums(sums: np.ndarray) -> np.ndarray:
    """(R, 2) sums of (hits, total) -> (R,) hits / total (0 where total is 0)."""
    sums = np.asarray(sums, dtype=np.float64)
    total = sums[:, 1]
    return np.divide(sums[:, 0], total, out=np.zeros_like(total), where=total > 0)


def span_f1_of_sums(sums: np.ndarray) -> np.ndarray:
    """(R, 3) sums of (true positives, predicted spans, gold spans) -> (R,) micro F1."""
    sums = np.asarray(sums, dtype=np.float64)
    denominator = sums[:, 1] + sums[:, 2]
    return np.divide(2 * sums[:, 0], denominator, out=np.zeros_like(denominator), where=denominator > 0)


def class_counts(predicted: np.ndarray, gold: np.ndarray, classes: int) -> np.ndarray:
    """(N,) predicted and gold class ids -> (N, 3 * classes) per-example (tp, fp, fn) indicators, class-major."""
    predicted, gold = np.asarray(predicted, dtype=np.int64), np.asarray(gold, dtype=np.int64)
    out = np.zeros((len(gold), classes, 3), dtype=np.float32)
    rows = np.arange(len(gold))
    hit = predicted == gold
    out[rows[hit], gold[hit], 0] = 1  # tp
    out[rows[~hit], predicted[~hit], 1] = 1  # fp of the predicted class
    out[rows[~hit], gold[~hit], 2] = 1  # fn of the gold class
    return out.reshape(len(gold), classes * 3)


def macro_f1_of_sums(sums: np.ndarray, classes: int) -> np.ndarray:
    """(R, 3 * classes) sums of ``class_counts`` -> (R,) macro F1 over the classes present (tp + fp + fn > 0)."""
    sums = np.asarray(sums, dtype=np.float64).reshape(len(sums), classes, 3)
    tp, fp, fn = sums[..., 0], sums[..., 1], sums[..., 2]
    denominator = 2 * tp + fp + fn
    present = (tp + fp + fn) > 0
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    count = present.sum(axis=1)
    return np.divide((f1 * present).sum(axis=1), count, out=np.zeros(len(sums)), where=count > 0)
