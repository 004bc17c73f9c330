"""Per task kind: teacher and best word-level (or sentence-level) student quality, and CPU latency ratios, from one
``taskdistil run`` of an example config (its stages are skipped when already complete), into
``bench/results/task_kinds.json`` under ``--task``:

    {TASK: {"teacher": .., "best_student": .., "student_kind": .., "retention": .., "latency_ratio_bs1": ..,
            "latency_ratio_bs32": .., "best_runtime_ratio_bs1": .., ...}}

Quality: the exam's primary metric on the test split (PyTorch runtime). Latency ratios: teacher p50 / student p50
at 1 thread, same process, interleaved rounds, warm-up done (``taskdistil.exam.speed``), PyTorch against PyTorch;
``best_runtime_ratio_bs1``: the teacher's fastest runtime against the student's fastest (each over torch, ONNX fp32
and ONNX int8), batch 1.

    TASKDISTIL_DATA=../shared/data python bench/task_kinds.py examples/nergrit.yaml --task nergrit
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taskdistil.config import load_config  # noqa: E402
from taskdistil.io import read_json, write_json  # noqa: E402
from taskdistil.pipeline import run_all  # noqa: E402

RESULTS = REPO / "bench" / "results" / "task_kinds.json"


def summarize(measurements: dict, threads: str = "1") -> dict:
    rows = measurements["models"]
    primary = measurements["primary_metric"]

    def p50(row: dict, bs: str) -> float | None:
        return row["latency"].get(threads, {}).get(bs, {}).get("p50_ms")

    teacher = next(r for r in rows if r["role"] == "teacher" and r["runtime"] == "torch")
    students = [r for r in rows if r["role"] == "student" and r["runtime"] == "torch"]
    best = max(students, key=lambda r: r["metrics"][primary])
    teacher_rows = [r for r in rows if r["role"] == "teacher"]
    best_rows = [r for r in rows if r["name"] == best["name"]]
    fastest_teacher = min(teacher_rows, key=lambda r: p50(r, "1"))
    fastest_student = min(best_rows, key=lambda r: p50(r, "1"))
    return {
        "metric": primary, "test_examples": measurements["test"]["examples"],
        "teacher": round(teacher["metrics"][primary], 4),
        "best_student": round(best["metrics"][primary], 4), "student_kind": best["kind"],
        "student_name": best["name"], "retention": round(best["metrics"][primary] / teacher["metrics"][primary], 4),
        "latency_ratio_bs1": round(p50(teacher, "1") / p50(best, "1"), 2),
        "latency_ratio_bs32": round(p50(teacher, "32") / p50(best, "32"), 2),
        "best_runtime_ratio_bs1": round(p50(fastest_teacher, "1") / p50(fastest_student, "1"), 2),
        "best_runtimes": {"teacher": fastest_teacher["runtime"], "student": fastest_student["runtime"]},
        "students": {r["name"]: {"kind": r["kind"], primary: round(r["metrics"][primary], 4),
                                 "latency_ratio_bs1": round(p50(teacher, "1") / p50(r, "1"), 2),
                                 "latency_ratio_bs32": round(p50(teacher, "32") / p50(r, "32"), 2)}
                     for r in students},
        "threads": int(threads),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--task", required=True, help="the key in task_kinds.json (e.g. nergrit, wikiann_en)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    parser.add_argument("--note", default=None, help="what differs from the example (e.g. a training subset)")
    args = parser.parse_args()
    config = load_config(args.config, args.overrides)
    run_all(config)
    measurements = read_json(config.resolved_run_dir() / "exam" / "measurements.json")
    entry = summarize(measurements)
    entry["command"] = " ".join(["python bench/task_kinds.py", args.config, "--task", args.task]
                                + [f"--set {o}" for o in args.overrides])
    entry["split"] = "test"
    entry["seeds"] = [config.seed]
    if args.note:
        entry["note"] = args.note
    results = read_json(RESULTS) if RESULTS.is_file() else {}
    results[args.task] = entry
    write_json(RESULTS, dict(sorted(results.items())))
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
