"""The exam's verdict on each model: margin over the majority class, and 95% intervals that say what is known.

Every task kind's primary metric (accuracy, mean macro-F1 over aspects, span F1, token accuracy) is a function of
per-example counts summed over the test set (``TaskKind.example_statistics`` / ``metric_of_sums``). For every model
row: ``vs_majority`` is the paired bootstrap interval of (model metric - majority baseline metric), and for every
row but the PyTorch teacher's, ``vs_teacher`` the interval of (model metric - the PyTorch teacher's metric).
``fidelity`` is the share of fidelity texts on which the model predicts the PyTorch teacher's label, with its
interval. All intervals of one text set share one set of resamples (``taskdistil.exam.bootstrap``).
"""

from __future__ import annotations

import numpy as np

from taskdistil.exam.bootstrap import difference_intervals, excludes_zero, intervals

TEACHER_VERDICT = {1: "above the teacher", 0: "not distinguishable from the teacher", -1: "below the teacher"}
MAJORITY_KEY = "\0majority"  # the majority baseline among the models' statistics (no row label starts so)
MAJORITY_VERDICT = {1: "better than the majority class", 0: "not better than the majority class",
                    -1: "worse than the majority class"}


def _teacher_label(rows: list[dict]) -> str:
    return next((r["label"] for r in rows if r["role"] == "teacher" and r["runtime"] == "torch"),
                next(r["label"] for r in rows if r["role"] == "teacher"))


def add_verdicts(rows: list[dict], stats: dict[str, np.ndarray], majority_stats: np.ndarray, metric,
                 resamples: int, seed: int) -> None:
    """Set ``vs_majority``, ``margin_over_majority`` and ``vs_teacher`` (differences of the primary metric) on scored
    rows. ``stats``: per row label, the task kind's per-example counts (``example_statistics``); ``metric``: its
    ``metric_of_sums``."""
    teacher = _teacher_label(rows)
    pairs = {}
    for label in stats:
        pairs[f"{label}|majority"] = (label, MAJORITY_KEY)
        if label != teacher and teacher in stats:
            pairs[f"{label}|teacher"] = (label, teacher)
    found = difference_intervals({**stats, MAJORITY_KEY: majority_stats}, metric, pairs, resamples, seed)
    for row in rows:
        label = row["label"]
        if label not in stats:
            row.update(vs_majority=None, margin_over_majority=None, vs_teacher=None)
            continue
        m = found[f"{label}|majority"]
        side = excludes_zero(m["ci95"])
        row["vs_majority"] = {"difference": m["value"], "ci95": m["ci95"], "better": side > 0,
                              "verdict": MAJORITY_VERDICT[side]}
        row["margin_over_majority"] = m["value"]
        t = found.get(f"{label}|teacher")
        row["vs_teacher"] = None if t is None else {
            "difference": t["value"], "ci95": t["ci95"], "verdict": TEACHER_VERDICT[excludes_zero(t["ci95"])]}


def add_fidelity(rows: list[dict], predictions: dict[str, np.ndarray], resamples: int, seed: int) -> None:
    """Set ``fidelity`` (agreement with the PyTorch teacher on the fidelity texts) on every row but the teacher's."""
    teacher = _teacher_label(rows)
    for row in rows:
        row.setdefault("fidelity", None)
    if teacher not in predictions:
        return
    reference = np.asarray(predictions[teacher])
    values = {label: (np.asarray(p) == reference).astype(np.float32)
              for label, p in predictions.items() if label != teacher}
    found = intervals(values, resamples, seed)
    for row in rows:
        if row["label"] in found:
            f = found[row["label"]]
            row["fidelity"] = {"agreement": f["value"], "ci95": f["ci95"], "examples": int(reference.size)}


def format_interval(cell: dict | None, key: str = "difference", signed: bool = True) -> str:
    """E.g. "+1.20 [-0.40, +2.80]" (points), or "–"."""
    if not cell or cell.get(key) is None:
        return "–"
    sign = "+" if signed else ""
    low, high = cell["ci95"]
    return f"{100 * cell[key]:{sign}.2f} [{100 * low:{sign}.2f}, {100 * high:{sign}.2f}]"


def verdict_lines(report: dict) -> list[str]:
    """The baselines, the interval method and the fidelity set, in words (report.md and report.html)."""
    baselines, spec = report.get("baselines"), report.get("intervals")
    if not baselines or not spec:
        return []
    majority, metric = baselines["majority"], spec.get("metric", "accuracy")
    lines = [f"Majority class baseline: always answering `{majority['label']}` ({majority['from']}) scores "
             f"{100 * majority['metrics'][metric]:.2f}% {metric} on the test set. Intervals: "
             f"{spec['method']} of the {metric} difference, {spec['resamples']:,} resamples, seed {spec['seed']}; "
             "\"not better than the majority class\" / \"not distinguishable from the teacher\" where the "
             "interval holds 0. vs teacher: against the PyTorch teacher."]
    if baselines.get("no_teacher"):
        lines.append("Trained without a teacher (gold labels only, the no-distillation baseline): "
                     + ", ".join(f"`{n}`" for n in baselines["no_teacher"]) + ".")
    fidelity = report.get("fidelity") or {}
    if fidelity.get("examples"):
        lines.append(f"Fidelity: agreement with {fidelity['reference']} on {fidelity['examples']:,} unlabeled texts "
                     f"({fidelity['source']}; {fidelity['available']:,} available), 95% bootstrap interval.")
    elif fidelity.get("note"):
        lines.append(f"Fidelity: {fidelity['note']}.")
    return lines
