"""The exam of a trained run, timed from scratch: export (ONNX fp32 + int8) and exam of the
teacher and every student, then a headless-Chromium screenshot of report.html.

The run must be trained (`taskdistil run CONFIG` or `make demo` for SST-2); this script
forces the export and exam stages only, so their time is what `exam_minutes` reports.

    TASKDISTIL_DATA=../shared/data python bench/exam.py --config examples/sst2.yaml \\
        --out bench/results/exam_sst2.json
    TASKDISTIL_DATA=../shared/data python bench/exam.py --config examples/smsa.yaml \\
        --out bench/results/exam_smsa.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taskdistil.config import load_config  # noqa: E402
from taskdistil.exam.screenshot import screenshot_report  # noqa: E402
from taskdistil.io import read_json, write_json  # noqa: E402
from taskdistil.pipeline import Run, exam_stage  # noqa: E402


def _compact(row: dict, primary: str) -> dict:
    t1 = min(row["latency"], key=int)
    return {"label": row["label"], "role": row["role"], "runtime": row["runtime"],
            primary: None if row["metrics"] is None else row["metrics"][primary],
            "quality": row["quality"], "retention": row["retention"], "parameters": row["parameters"],
            "parameters_without_embeddings": row["parameters_without_embeddings"], "disk_bytes": row["disk_bytes"],
            "peak_rss_bytes": (row["memory"] or {}).get("peak_rss_bytes"), "latency": row["latency"],
            "ratio_vs_teacher_bs1": row["ratios"]["vs_teacher"].get(t1, {}).get("1"),
            "ratio_vs_teacher_fastest_bs1": row["ratios"]["vs_teacher_fastest"].get(t1, {}).get("1"),
            "ratio_vs_reference_bs1": row["ratios"]["vs_reference"].get(t1, {}).get("1"),
            "int8_drop": row.get("int8_drop"), "int8_drop_batched": row.get("int8_drop_batched"),
            "parity_max_abs_diff": row.get("parity_max_abs_diff")}


def markdown_table(results: dict) -> str:
    """The BENCHMARKS.md table of one exam's results (1 thread; throughput at 1 thread)."""
    primary = results["primary_metric"]

    def num(x, fmt):
        return "–" if x is None else format(x, fmt)

    lines = [f"| model (runtime) | {primary} | retention | params (w/o emb.) | disk MB | peak RSS MB "
             "| bs1 p50 / p95 ms | bs32 ex/s | bs256 ex/s | vs teacher (PyTorch) bs1 | vs teacher's fastest bs1 "
             "| vs BERT-base bs1 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in results["rows"]:
        t1 = m["latency"][min(m["latency"], key=int)]
        p1 = t1["1"]
        acc = None if m[primary] is None else 100 * m[primary]
        ret = None if m["retention"] is None else 100 * m["retention"]
        lines.append(" | ".join([
            f"| {m['label']}", num(acc, ".2f"), num(ret, ".1f") + ("%" if ret is not None else ""),
            f"{m['parameters'] / 1e6:.2f}M ({m['parameters_without_embeddings'] / 1e6:.2f}M)",
            num(m["disk_bytes"] and m["disk_bytes"] / 1e6, ".1f"),
            num(m["peak_rss_bytes"] and m["peak_rss_bytes"] / 1e6, ".0f"),
            f"{p1['p50_ms']:.2f} / {p1['p95_ms']:.2f}",
            num((t1.get("32") or {}).get("throughput_per_s"), ",.0f"),
            num((t1.get("256") or {}).get("throughput_per_s"), ",.0f"),
            num(m["ratio_vs_teacher_bs1"], ".1f") + "x", num(m["ratio_vs_teacher_fastest_bs1"], ".1f") + "x",
            num(m["ratio_vs_reference_bs1"], ".1f") + "x |"]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "examples" / "sst2.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "exam_sst2.json"))
    parser.add_argument("--no-force", action="store_true", help="reuse up-to-date exports and measurements")
    parser.add_argument("--markdown", action="store_true", help="only print the table of the --out results")
    args = parser.parse_args()
    if args.markdown:
        print(markdown_table(read_json(Path(args.out))))
        return

    config = load_config(args.config, args.overrides)
    run = Run(config)
    t0 = time.perf_counter()
    exam_stage(run, force=not args.no_force)
    minutes = (time.perf_counter() - t0) / 60
    report = read_json(run.dir / "report.json")
    primary = report["primary_metric"]
    rows = report["models"]
    t1 = str(min(report["timing"]["threads"]))

    def p50(row):
        return row["latency"][t1]["1"]["p50_ms"]

    teachers = [r for r in rows if r["role"] == "teacher"]
    students = [r for r in rows if r["role"] == "student"]
    teacher_fastest = min(teachers, key=p50)
    student_fastest = min(students, key=p50)
    fastest_torch = next(r for r in rows if r["name"] == student_fastest["name"] and r["runtime"] == "torch")
    shot = screenshot_report(run.dir / "report.html", run.dir / "report.png")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    results = {
        "run": config.name, "test": report["test"], "primary_metric": primary,
        "exam_minutes": round(minutes, 2),
        "exam_stage_seconds": {k: v for k, v in report["stage_seconds"].items() if k.startswith(("export", "exam"))},
        "onnx_max_abs_diff": max(r["parity_max_abs_diff"] for r in rows if r["runtime"] == "onnx"),
        # quality the fastest student variant loses against its own PyTorch model (int8 when int8 is fastest),
        # scored text by text (batch 1, as the latency figure) and, for int8, in batches of 64
        "int8_quality_drop": fastest_torch["metrics"][primary] - student_fastest["metrics"][primary],
        "int8_quality_drop_batched": student_fastest.get("int8_drop_batched"),
        "int8_quality_drop_max": max(d for r in rows for d in (r.get("int8_drop"), r.get("int8_drop_batched"))
                                     if d is not None),
        "html_screenshot_ok": shot["ok"], "screenshot": shot,
        "best_runtime_ratio_bs1": p50(teacher_fastest) / p50(student_fastest),
        "teacher_fastest_runtime": teacher_fastest["label"], "fastest_student": student_fastest["label"],
        "recommendation": report["recommendation"],
        "rows": [_compact(r, primary) for r in rows],
        "timing": report["timing"], "commit": commit,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "command": f"TASKDISTIL_DATA=../shared/data python bench/exam.py --config {args.config} --out {args.out}",
    }
    write_json(Path(args.out), results)
    print(json.dumps({k: results[k] for k in ("exam_minutes", "onnx_max_abs_diff", "int8_quality_drop",
                                               "int8_quality_drop_batched",
                                               "html_screenshot_ok", "best_runtime_ratio_bs1",
                                               "teacher_fastest_runtime", "fastest_student")}, indent=2))


if __name__ == "__main__":
    main()
