"""Bootstrap 95% intervals over test examples, vectorised: every interval of one exam shares its resamples.

A resample draws n example indices with replacement (``numpy.random.default_rng(seed).integers(0, n, n)``, once
per resample, the draws of ``bench/teacher_gap.py``); a statistic is the mean of a per-example value over the
drawn examples. For a paired difference (student - teacher) the value is the difference of the two models'
per-example scores (1 right, 0 wrong) on the same example, so the interval accounts for the examples both get
right or wrong. The interval is the 2.5th and 97.5th percentile of the resampled statistic (percentile method).
Resamples are drawn in chunks and turned into per-example counts, so k statistics over R resamples cost one
(R, n) x (n, k) matrix product instead of a Python loop.
"""

from __future__ import annotations

import numpy as np

RESAMPLES = 10_000
SEED = 0
_CELLS = 1 << 22  # resample-by-example cells per chunk (32 MB of int64 indices)


def resample_counts(n: int, resamples: int = RESAMPLES, seed: int = SEED):
    """Yield (chunk, n) float32 arrays: how often each example is drawn in each resample, in draw order."""
    rng = np.random.default_rng(seed)
    chunk = max(1, _CELLS // max(1, n))
    done = 0
    while done < resamples:
        rows = min(chunk, resamples - done)
        idx = rng.integers(0, n, (rows, n))
        flat = (np.arange(rows, dtype=np.int64)[:, None] * n + idx).ravel()
        yield np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.float32)
        done += rows


def resampled_means(values: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(R, k) means of the k per-example value columns of ``values`` (n, k) over R shared resamples."""
    values = np.asarray(values, dtype=np.float32)  # 0/1 scores and their differences: the sums are exact
    n = values.shape[0]
    out = [(counts @ values).astype(np.float64) / n for counts in resample_counts(n, resamples, seed)]
    return np.concatenate(out, axis=0)


def intervals(values: dict[str, np.ndarray], resamples: int = RESAMPLES, seed: int = SEED) -> dict[str, dict]:
    """For each named per-example value vector (n,): its mean and 95% percentile interval, all on shared resamples.

    Pass a paired difference as the difference vector (e.g. ``student_right - teacher_right``).
    """
    if not values:
        return {}
    names = list(values)
    matrix = np.stack([np.asarray(values[k], dtype=np.float64) for k in names], axis=1)  # (n, k)
    if matrix.shape[0] == 0:
        return {k: {"value": None, "ci95": None} for k in names}
    means = resampled_means(matrix, resamples, seed)  # (R, k)
    low, high = np.percentile(means, [2.5, 97.5], axis=0)
    return {k: {"value": float(matrix[:, i].mean()), "ci95": [float(low[i]), float(high[i])]}
            for i, k in enumerate(names)}


def difference_intervals(stats: dict[str, np.ndarray], metric, pairs: dict[str, tuple[str, str]],
                         resamples: int = RESAMPLES, seed: int = SEED) -> dict[str, dict]:
    """Paired intervals of metric differences, for metrics that are not means of per-example scores (F1).

    ``stats``: per model, (n, K) per-example counts; ``metric``: (R, K) column sums -> (R,) metric values (a task
    kind's ``metric_of_sums``); ``pairs``: name -> (model, reference). For each pair: the metric difference on the
    whole set (``value``) and the 2.5th/97.5th percentiles of the difference over shared resamples (each resample's
    sums are the resampled examples' counts, so both models of a pair see the same examples).
    """
    if not pairs:
        return {}
    names = sorted({m for pair in pairs.values() for m in pair})
    widths = [np.asarray(stats[m]).shape[1] for m in names]
    matrix = np.concatenate([np.asarray(stats[m], dtype=np.float32) for m in names], axis=1)  # (n, sum K)
    n = matrix.shape[0]
    if n == 0:
        return {k: {"value": None, "ci95": None} for k in pairs}
    bounds = dict(zip(names, zip(np.cumsum([0] + widths[:-1]), np.cumsum(widths))))
    whole = {m: float(metric(matrix[:, a:b].sum(axis=0, dtype=np.float64)[None])[0]) for m, (a, b) in bounds.items()}
    draws = {k: [] for k in pairs}
    for counts in resample_counts(n, resamples, seed):
        sums = (counts @ matrix).astype(np.float64)  # (chunk, sum K): counts of integers, exact in float32
        values = {m: metric(sums[:, a:b]) for m, (a, b) in bounds.items()}
        for k, (model, reference) in pairs.items():
            draws[k].append(values[model] - values[reference])
    out = {}
    for k, (model, reference) in pairs.items():
        low, high = np.percentile(np.concatenate(draws[k]), [2.5, 97.5])
        out[k] = {"value": whole[model] - whole[reference], "ci95": [float(low), float(high)]}
    return out


def excludes_zero(ci95: list[float] | None) -> int:
    """+1 if the interval lies above 0, -1 if below, 0 if it holds 0 (or is missing)."""
    if not ci95:
        return 0
    return 1 if ci95[0] > 0 else -1 if ci95[1] < 0 else 0
