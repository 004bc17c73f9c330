"""Exam report: ``report.json`` (machine-readable), ``report.md`` (tables), ``report.html`` (plots).

The measurements are the exam stage's (``exam/measurements.json``); the report adds stage
times and the recommendation under the budgets, so new budgets re-measure nothing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from taskdistil.exam.gpu import device_lines
from taskdistil.exam.recommend import recommend
from taskdistil.exam.verdict import format_interval, verdict_lines
from taskdistil.io import atomic_write_text, read_json, write_json

if TYPE_CHECKING:
    from taskdistil.run_dir import Run


def _mb(n: int | None) -> str:
    return "–" if n is None else f"{n / 1e6:.1f}"


def _count(n: int | None) -> str:
    return "–" if n is None else f"{n:,}"


def _pct(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}"


def _x(ratios: dict, key: str, t: str, bs: str) -> str:
    value = ratios.get(key, {}).get(t, {}).get(bs)
    return "–" if value is None else f"{value:.1f}x"


def _quality(row: dict) -> str:
    q = row.get("quality")
    if not q:
        return "–"
    if q["seeds"] > 1:
        return f"{100 * q['mean']:.2f} ± {100 * q['std']:.2f} (n={q['seeds']})"
    return f"{100 * q['mean']:.2f}"


def _scored_lines(report: dict) -> list[str]:
    ways = {}
    for m in report["models"]:
        if m.get("scored"):
            ways.setdefault(m["scored"], []).append(m["label"])
    if not ways:
        return []
    return ["Quality scored: " + "; ".join(f"{how}: {', '.join(labels)}" for how, labels in ways.items())
            + ". fp32 predictions do not depend on the batch (padding is masked); int8 ones do.", ""]


def render_markdown(report: dict) -> str:
    primary, timing = report["primary_metric"], report["timing"]
    t1 = str(min(timing["threads"]))
    t_all = str(max(timing["threads"]))
    sizes = [str(b) for b in timing["batch_sizes"]]
    big = [b for b in sizes if b != "1"]
    lines = [f"# Exam: {report['run']}", "",
             f"Test split: `{report['test']['source']}` ({report['test']['examples']} examples). "
             f"Speed: {timing['inputs']}; threads pinned ({', '.join(map(str, timing['threads']))}); "
             f"warm-up, then up to {timing['max_batches']} batches or {timing['max_seconds']} s per point, "
             "interleaved between models; medians (p50). Ratios are the teacher's (or reference's) ms over "
             "the model's, same run.", ""]
    rec = report.get("recommendation")
    if rec:
        lines += ["## Recommendation", "", rec["reason"], ""]
        if not rec.get("chosen") and rec.get("rejected"):
            lines += [f"- {label}: {why}" for label, why in rec["rejected"].items()] + [""]
    verdict = bool(report.get("intervals"))
    head = ["model", "runtime", primary, "over seeds", "retention"]
    head += ["vs majority pts [95% CI]", "vs teacher pts [95% CI]", "fidelity % [95% CI]"] if verdict else []
    head += ["params", "params w/o emb.", "disk MB",
            "peak RSS MB", f"bs1 p50 ms (t{t1})", f"bs1 p95 ms (t{t1})"]
    head += [f"bs{b} ex/s (t{t})" for b in big for t in sorted({t1, t_all}, key=int)]
    head += [f"vs teacher bs1 (t{t1})", f"vs teacher's fastest bs1 (t{t1})", f"vs BERT-base bs1 (t{t1})"]
    lines += ["## Models", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    if verdict:
        majority = report["baselines"]["majority"]
        lines.append("| " + " | ".join([f"{majority['name']} (`{majority['label']}`)", "–",
                                         _pct(majority["metrics"].get(primary))] + ["–"] * (len(head) - 3)) + " |")
    for m in report["models"]:
        lat1 = m["latency"].get(t1, {}).get("1", {})
        name = m["name"] + (" (no teacher)" if m.get("baseline") == "no-teacher" else "")
        row = [name, m["runtime"], _pct((m["metrics"] or {}).get(primary)), _quality(m),
               _pct(m.get("retention"), 1) + ("%" if m.get("retention") is not None else "")]
        if verdict:
            row += [format_interval(m.get("vs_majority")), format_interval(m.get("vs_teacher")),
                    format_interval(m.get("fidelity"), "agreement", signed=False)]
        row += [_count(m["parameters"]), _count(m["parameters_without_embeddings"]), _mb(m.get("disk_bytes")),
               _mb((m.get("memory") or {}).get("peak_rss_bytes")),
               f"{lat1['p50_ms']:.2f}" if lat1 else "–", f"{lat1['p95_ms']:.2f}" if lat1 else "–"]
        for b in big:
            for t in sorted({t1, t_all}, key=int):
                point = m["latency"].get(t, {}).get(b)
                row.append(f"{point['throughput_per_s']:,.0f}" if point else "–")
        row += [_x(m["ratios"], k, t1, "1") for k in ("vs_teacher", "vs_teacher_fastest", "vs_reference")]
        lines.append("| " + " | ".join(row) + " |")
    counts = sorted(p["timed_batches"] for m in report["models"] for by_bs in m["latency"].values()
                    for p in by_bs.values() if "timed_batches" in p)  # not in a latency the user gave
    if counts:
        lines += ["", f"Timed batches per point: {counts[0]} to {counts[-1]} (median {counts[len(counts) // 2]}); "
                  "every point's count is in report.json."]
    lines += [""] + [line for text in verdict_lines(report) for line in (text, "")] + _scored_lines(report)
    flagged = [m["label"] for m in report["models"] if m.get("int8_flag")]
    lines += ["", "Peak RSS: a fresh process that loads the model and predicts one batch of "
              f"{_batch(report)} test texts, as deployed: PyTorch rows import torch (the teacher also "
              "transformers), ONNX rows only onnxruntime. Params of ONNX rows: the PyTorch model's. "
              "Disk: what that runtime ships (weights file + tokenizer + config).", ""]
    if flagged:
        lines += [f"**int8 quality flag**: {', '.join(flagged)} lose more than the allowed points to int8.", ""]
    lines += _parity_lines(report) + device_lines(report)
    if report.get("stage_seconds"):
        lines += ["## Stage times", "", "| stage | seconds |", "|---|---|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in report["stage_seconds"].items()]
        lines += [f"| **total** | {sum(report['stage_seconds'].values()):.1f} |", ""]
    return "\n".join(lines)


def _batch(report: dict) -> str:
    sizes = {(m.get("memory") or {}).get("batch_size") for m in report["models"]} - {None}
    return ", ".join(map(str, sorted(sizes))) or "–"


def _parity_lines(report: dict) -> list[str]:
    rows = [m for m in report["models"] if m.get("parity_max_abs_diff") is not None]
    if not rows:
        return []
    batched = report["timing"].get("quality_batch_size", 1)
    old = "intervals" not in report  # before fp32 was batched: int8 scored at the quality batch size and at 64
    lines = ["## ONNX parity", "", "| model | runtime | max abs logit diff vs PyTorch | int8 quality drop "
             f"(batch {batched if old else 1} / batch {64 if old else batched}) |", "|---|---|---|---|"]
    for m in rows:
        drops = [m.get("int8_drop"), m.get("int8_drop_batched")]
        shown = " / ".join("–" if d is None else f"{100 * d:+.2f} pts" for d in drops)
        lines.append(f"| {m['name']} | {m['runtime']} | {m['parity_max_abs_diff']:.2e} | {shown} |")
    return lines + ["", "Dynamic int8 quantizes activations with one scale per batch tensor: a prediction depends "
                    "on the other texts in its batch, so int8 quality is scored alone and in batches of "
                    f"{64 if old else batched}.", ""]


def _stage_seconds(run: "Run", report: dict) -> dict:
    stages = [("teacher", run.teacher_dir), ("annotate", run.annotate_dir)]
    stages += [(f"distill:{s.name}", run.student_dir(s.name)) for s in run.config.students]
    stages += [(f"export:{n}", run.export_stage_dir(n)) for n in ["teacher"] + [s.name for s in run.config.students]]
    out = {}
    for label, stage_dir in stages:
        manifest = stage_dir / "manifest.json"
        if manifest.is_file():
            out[label] = read_json(manifest).get("seconds", 0.0)
    out["exam"] = report.get("exam_seconds", 0.0)
    return out


def finalize_report(run: "Run", budgets: dict) -> dict:
    """report.json/md/html in the run directory and a model card in every exported directory."""
    from taskdistil.exam.html import write_html
    from taskdistil.exam.model_card import write_model_cards

    report = read_json(run.exam_dir / "measurements.json")
    report["budgets"] = budgets
    report["stage_seconds"] = _stage_seconds(run, report)
    report["pipeline_seconds"] = round(sum(report["stage_seconds"].values()), 1)
    report["recommendation"] = recommend(report, **budgets)
    previous = run.dir / "report.json"
    if previous.is_file() and read_json(previous) == json.loads(json.dumps(report)):
        return report  # nothing changed: leave the files (and their times) alone
    write_json(run.dir / "report.json", report)
    atomic_write_text(run.dir / "report.md", render_markdown(report))
    write_html(run.dir, report)
    write_model_cards(run, report)
    return report
