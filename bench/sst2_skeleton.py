"""SST-2 end to end: teacher fine-tuning -> annotation -> BiLSTM student -> exam.

Runs (or resumes) `taskdistil run examples/sst2.yaml` and writes the figures of
BENCHMARKS.md to bench/results/sst2_skeleton.json.

    TASKDISTIL_DATA=../shared/data python bench/sst2_skeleton.py [--run-dir DIR] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taskdistil.config import load_config  # noqa: E402
from taskdistil.io import read_json, write_json  # noqa: E402
from taskdistil.pipeline import run_all  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "examples" / "sst2.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--run-dir", default=str(REPO / "runs" / "bench" / "sst2"),
                        help="a fresh directory times every stage; an existing one resumes / skips")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "sst2_skeleton.json"))
    args = parser.parse_args()

    config = load_config(args.config, [*args.overrides, f"run_dir={args.run_dir}"])
    run_all(config)
    run_dir = config.resolved_run_dir()
    report = read_json(run_dir / "report.json")
    by_name = {m["name"]: m for m in report["models"] if m["runtime"] == "torch"}  # PyTorch rows
    teacher, student = by_name["teacher"], by_name[config.students[0].name]
    attempts = {}
    student_dirs = [run_dir / "students" / s.name for s in config.students]
    for stage_dir in [run_dir / "teacher", run_dir / "annotations", *student_dirs]:
        manifest = read_json(stage_dir / "manifest.json")
        attempts[manifest["stage"]] = manifest.get("attempts", 1)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip()
    results = {
        "teacher_acc": teacher["metrics"]["accuracy"],
        "student_acc": student["metrics"]["accuracy"],
        "latency_ratio_bs1": student["ratios"]["vs_teacher"]["1"]["1"],
        "latency_ratio_bs32": student["ratios"]["vs_teacher"]["1"]["32"],
        "pipeline_minutes": report["pipeline_seconds"] / 60.0,
        "stage_seconds": report["stage_seconds"],
        "stage_attempts": attempts,
        "latency_ms": {name: m["latency"]["1"] for name, m in by_name.items()},
        "parameters": {name: m["parameters"] for name, m in by_name.items()},
        "disk_bytes": {name: m["disk_bytes"] for name, m in by_name.items()},
        "test_split": report["test"],
        "seeds": [config.seed],
        "threads_for_latency": 1,
        "commit": commit,
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version()},
        "command": "TASKDISTIL_DATA=../shared/data python bench/sst2_skeleton.py",
    }
    write_json(Path(args.out), results)
    print(json.dumps({k: results[k] for k in ("teacher_acc", "student_acc", "latency_ratio_bs1",
                                               "latency_ratio_bs32", "pipeline_minutes")}, indent=2))


if __name__ == "__main__":
    main()
