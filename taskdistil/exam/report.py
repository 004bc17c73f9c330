"""Exam report: ``report.json`` (machine-readable) and ``report.md`` (a table to read)."""

from __future__ import annotations

from pathlib import Path

from taskdistil.io import atomic_write_text, write_json


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f}"


def render_markdown(report: dict) -> str:
    bs = report["batch_sizes"]
    lines = [f"# Exam: {report['run']}", "",
             f"Test split: `{report['test']['source']}` ({report['test']['examples']} examples). "
             f"Latency: eager PyTorch on CPU, {report['threads']} thread(s), model forward on pre-tokenized "
             "test inputs in file order, median over timed batches after warm-up "
             "(timed batches per model in the JSON).", ""]
    head = ["model", "kind", report["primary_metric"], "retention", "params", "disk MB"]
    head += [f"bs{b} ms" for b in bs] + [f"speed-up bs{b}" for b in bs]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for m in report["models"]:
        row = [m["name"], m["kind"], f"{100 * m['metrics'][report['primary_metric']]:.2f}",
               f"{100 * m['retention']:.1f}%", f"{m['parameters']:,}", _mb(m["disk_bytes"])]
        row += [f"{m['latency'][str(b)]['median_ms']:.2f}" for b in bs]
        row += [f"{m['speedup'][str(b)]:.1f}x" for b in bs]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Retention = student metric / teacher metric; speed-up = teacher ms / model ms, same run.", ""]
    if report.get("stage_seconds"):
        lines += ["## Stage times", "", "| stage | seconds |", "|---|---|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in report["stage_seconds"].items()]
        lines += [f"| **total** | {sum(report['stage_seconds'].values()):.1f} |", ""]
    return "\n".join(lines)


def write_report(run_dir: Path, report: dict) -> None:
    write_json(Path(run_dir) / "report.json", report)
    atomic_write_text(Path(run_dir) / "report.md", render_markdown(report))
