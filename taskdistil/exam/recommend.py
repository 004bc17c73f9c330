"""Pick the student to ship: the best quality within latency, size and retention budgets."""

from __future__ import annotations

import math

TIE = 1e-9


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points no other point dominates (lower x and higher y are better), sorted by x."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(ox <= x and oy >= y and (ox < x or oy > y) for j, (ox, oy) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: (points[i][0], -points[i][1], i))


def thread_key(row: dict) -> str | None:
    """The latency thread count used for budgets and plots: "1" if measured, else the smallest present."""
    threads = list((row.get("latency") or {}).keys())
    if "1" in threads:
        return "1"
    return min(threads, key=lambda t: (float(t), t)) if threads else None


def batch1_p50_ms(row: dict) -> float | None:
    """Batch-1 median latency (ms) at ``thread_key(row)`` threads, or None if not measured."""
    threads = thread_key(row)
    cell = ((row.get("latency") or {}).get(threads) or {}).get("1") if threads else None
    return cell.get("p50_ms") if cell else None


def primary_value(report: dict, row: dict) -> float | None:
    return (row.get("metrics") or {}).get(report.get("primary_metric"))


def size_mb(row: dict) -> float | None:
    return row["disk_bytes"] / 1e6 if row.get("disk_bytes") is not None else None


def speedup_vs_teacher(row: dict) -> float | None:
    threads = thread_key(row)
    return (((row.get("ratios") or {}).get("vs_teacher") or {}).get(threads) or {}).get("1") if threads else None


def _latency_check(row: dict, limit: float) -> str | None:
    ms = batch1_p50_ms(row)
    if ms is None:
        return "latency: no batch-1 measurement"
    return None if ms <= limit else f"latency {ms:.2f} ms > {limit:g} ms budget (+{ms - limit:.2f} ms)"


def _size_check(row: dict, limit: float) -> str | None:
    mb = size_mb(row)
    if mb is None:
        return "size: no disk size"
    return None if mb <= limit else f"size {mb:.1f} MB > {limit:g} MB budget (+{mb - limit:.1f} MB)"


def _retention_check(row: dict, limit: float) -> str | None:
    kept = row.get("retention")
    if kept is None:
        return "retention: not measured"
    if kept >= limit:
        return None
    return f"retention {100 * kept:.1f}% < {100 * limit:g}% budget (-{100 * (limit - kept):.1f} points)"


# Each check returns None when the row meets the budget, else why not (which budget, by how much).
CHECKS = {"max_latency_ms": _latency_check, "max_size_mb": _size_check, "min_retention": _retention_check}
# How far a row is from meeting each budget (0 when met; inf when not measured).
GAPS = {"max_latency_ms": lambda row, limit: _gap(batch1_p50_ms(row), limit, +1),
        "max_size_mb": lambda row, limit: _gap(size_mb(row), limit, +1),
        "min_retention": lambda row, limit: _gap(row.get("retention"), limit, -1)}
NAMES = {"max_latency_ms": "latency", "max_size_mb": "size", "min_retention": "retention"}


def _gap(value: float | None, limit: float, sign: int) -> float:
    return math.inf if value is None else max(0.0, sign * (value - limit))


def describe_budgets(budgets: dict) -> str:
    """E.g. "batch-1 latency <= 1 ms, size <= 30 MB, retention >= 95%"; empty when no budget is given."""
    parts = []
    if budgets.get("max_latency_ms") is not None:
        parts.append(f"batch-1 latency <= {budgets['max_latency_ms']:g} ms")
    if budgets.get("max_size_mb") is not None:
        parts.append(f"size <= {budgets['max_size_mb']:g} MB")
    if budgets.get("min_retention") is not None:
        parts.append(f"retention >= {100 * budgets['min_retention']:g}%")
    return ", ".join(parts)


def _points(ci95: list[float]) -> str:
    return f"[{100 * ci95[0]:+.2f}, {100 * ci95[1]:+.2f}] points"


def majority_check(report: dict, row: dict) -> str | None:
    """None when the row's accuracy is above the majority class's (its 95% interval above 0), else why not;
    None too for reports without intervals."""
    verdict, majority = row.get("vs_majority"), (report.get("baselines") or {}).get("majority")
    if not verdict or not majority or verdict.get("better"):
        return None
    metric = report.get("primary_metric") or "accuracy"
    return (f"{verdict['verdict']} ({metric} {100 * ((row.get('metrics') or {}).get(metric) or 0):.2f}% vs "
            f"{100 * majority['metrics'][metric]:.2f}% always answering {majority['label']!r}; 95% interval "
            f"of the difference {_points(verdict['ci95'])})")


def teacher_note(row: dict) -> str:
    """E.g. "not distinguishable from the teacher (95% interval of the difference [-1.20, +0.40] points)"."""
    verdict = row.get("vs_teacher")
    if not verdict:
        return ""
    return f"{verdict['verdict']} (95% interval of the difference {_points(verdict['ci95'])})"


def _figures(report: dict, row: dict) -> str:
    metric = report.get("primary_metric", "metric")
    value, kept, ms, mb = primary_value(report, row), row.get("retention"), batch1_p50_ms(row), size_mb(row)
    parts = [f"{metric} {100 * value:.2f}%" if value is not None else f"{metric} not measured"]
    if kept is not None:
        parts[0] += f" ({100 * kept:.1f}% of the teacher{'; ' + teacher_note(row) if row.get('vs_teacher') else ''})"
    if row.get("vs_majority"):
        parts.append(f"{100 * row['vs_majority']['difference']:+.2f} points over the majority class (95% interval "
                     f"{_points(row['vs_majority']['ci95'])})")
    if ms is not None:
        threads = thread_key(row)
        parts.append(f"median {ms:.2f} ms at batch 1 on {threads} thread{'' if threads == '1' else 's'}")
    if mb is not None:
        parts.append(f"{mb:.1f} MB on disk")
    speedup = speedup_vs_teacher(row)
    if speedup is not None:
        parts.append(f"{speedup:.1f}x faster than the teacher")
    return ", ".join(parts)


def _closest(report: dict, students: list[int], budgets: dict) -> list[str]:
    """Per budget some students miss: the student nearest to meeting it (preferring ones meeting the others)."""
    models, given = report["models"], [k for k in CHECKS if budgets.get(k) is not None]
    notes = []
    for key in given:
        missing = [i for i in students if CHECKS[key](models[i], budgets[key])]
        if not missing:
            continue

        def others_met(i: int, key: str = key) -> bool:
            return all(CHECKS[k](models[i], budgets[k]) is None for k in given if k != key)

        best = min(missing, key=lambda i: (not others_met(i), GAPS[key](models[i], budgets[key]), i))
        why = CHECKS[key](models[best], budgets[key])
        also = [NAMES[k] for k in given if k != key and CHECKS[k](models[best], budgets[k])]
        rest = "meets the other budgets" if not also else "also misses " + " and ".join(also)
        notes.append(f"closest on {NAMES[key]}: {models[best]['label']}, {why}, {rest}")
    return notes


def recommend(report: dict, max_latency_ms: float | None = None, max_size_mb: float | None = None,
              min_retention: float | None = None) -> dict:
    """Choose among student rows (every runtime) the best primary metric within the given budgets."""
    budgets = {"max_latency_ms": max_latency_ms, "max_size_mb": max_size_mb, "min_retention": min_retention}
    models = report.get("models") or []
    students = [i for i, row in enumerate(models) if row.get("role") == "student"]
    failures = {i: [why for key, check in CHECKS.items() if budgets[key] is not None
                    and (why := check(models[i], budgets[key])) is not None] for i in students}
    passing = [i for i in students if not failures[i] and primary_value(report, models[i]) is not None]
    result = {"budgets": budgets, "chosen": None, "row": None,
              "candidates": [models[i]["label"] for i in passing],
              "rejected": {models[i]["label"]: "; ".join(failures[i]) for i in students if failures[i]}}
    for i in students:
        if not failures[i] and primary_value(report, models[i]) is None:
            result["rejected"][models[i]["label"]] = f"no {report.get('primary_metric')} measured"
    no_skill = {i: why for i in passing if (why := majority_check(report, models[i]))}
    for i, why in no_skill.items():
        result["rejected"][models[i]["label"]] = why
    passing = [i for i in passing if i not in no_skill]
    result["candidates"] = [models[i]["label"] for i in passing]

    given = describe_budgets(budgets)
    if not students:
        result["reason"] = "The report has no student models, so there is nothing to recommend."
        return result
    if not passing and no_skill:
        result["reason"] = _no_skill_reason(report, len(no_skill), len(students))
        return result
    if not passing and not given:
        result["reason"] = f"No budgets were given, but no student has a measured {report.get('primary_metric')}."
        return result
    if not passing:
        notes = _closest(report, students, budgets)
        result["reason"] = (f"No student meets the budgets ({given}); " + "; ".join(notes) + "."
                            if notes else f"No student meets the budgets ({given}).")
        return result

    best = max(primary_value(report, models[i]) for i in passing)
    tied = [i for i in passing if primary_value(report, models[i]) >= best - TIE]

    def cost(i: int) -> tuple[float, float, int]:
        ms, mb = batch1_p50_ms(models[i]), size_mb(models[i])
        return (math.inf if ms is None else ms, math.inf if mb is None else mb, i)

    chosen = min(tied, key=cost)
    label = models[chosen]["label"]
    figures = _figures(report, models[chosen])
    if given:
        reason = (f"{label} is the best-quality student within the budgets ({given}): {figures} "
                  f"({len(passing)} of {len(students)} students meet the budgets).")
    else:
        reason = f"No budgets were given, so {label} is chosen as the best-quality student: {figures}."
    if no_skill:
        reason += f" {len(no_skill)} student variant(s) are not better than the majority class and were not considered."
    result.update(chosen=label, row=chosen, reason=reason)
    return result


def _no_skill_reason(report: dict, no_skill: int, students: int) -> str:
    """Why nothing is recommended when the students that meet the budgets show no skill."""
    majority, metric = report["baselines"]["majority"], report.get("primary_metric") or "accuracy"
    teacher = next((m for m in report["models"] if m.get("role") == "teacher" and m.get("runtime") == "torch"), None)
    reason = (f"No student is recommended: {no_skill} of {students} student variants meet the budgets but none is "
              f"significantly better than the majority class (always answering {majority['label']!r}: "
              f"{100 * majority['metrics'][metric]:.2f}% {metric} on the test set).")
    why = majority_check(report, teacher) if teacher else None
    if why:
        reason += (f" The teacher is {why}: it shows no skill on this test set to distil, so check the labels, the "
                   "data and the teacher's training before distilling.")
    return reason
