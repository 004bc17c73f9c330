"""SST-2 student variants against one teacher and one annotation cache: which recipe is best?

Runs (or resumes) the pipeline of examples/sst2.yaml with the student list below in one run
directory, so every student shares the teacher and its cached logits, then writes per
student the exam figures, with mean and std over the seeds of each recipe, to
bench/results/sst2_students.json.

    TASKDISTIL_DATA=../shared/data python bench/sst2_students.py [--run-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taskdistil.config import load_config  # noqa: E402
from taskdistil.io import read_json, write_json  # noqa: E402
from taskdistil.pipeline import Run, exam_stage, run_all  # noqa: E402

# name -> (recipe, settings). Unlisted settings are StudentConfig defaults (10 epochs, Adam 1e-3, batch 50).
VARIANTS = [
    ("bilstm-tuned", {"name": "bilstm", "pooling": "last"}),
    ("bilstm-tuned-maxpool", {"name": "bilstm-max", "pooling": "max"}),
    ("bilstm-multichannel", {"name": "bilstm-mc", "pooling": "last", "embedding_mode": "multichannel"}),
    ("bilstm-frozen", {"name": "bilstm-frozen", "pooling": "last", "embedding_mode": "frozen"}),
    ("bilstm-frozen", {"name": "bilstm-frozen-s1", "seed": 1, "embedding_mode": "frozen"}),
    ("bilstm-frozen", {"name": "bilstm-frozen-s2", "seed": 2, "embedding_mode": "frozen"}),
    ("cnn-tuned", {"name": "cnn", "kind": "cnn", "dropout": 0.5}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default=str(REPO / "runs" / "sst2"))
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "sst2_students.json"))
    parser.add_argument("--exam-only", action="store_true",
                        help="examine the students already trained in the run directory, whatever their keys")
    args = parser.parse_args()

    students = yaml.safe_dump([settings for _, settings in VARIANTS], default_flow_style=True).strip()
    config = load_config(REPO / "examples" / "sst2.yaml", [f"run_dir={args.run_dir}", f"students={students}"])
    if args.exam_only:
        exam_stage(Run(config))
    else:
        run_all(config)
    run_dir = config.resolved_run_dir()
    report = read_json(run_dir / "report.json")
    rows = {m["name"]: m for m in report["models"]}
    teacher = rows["teacher"]
    students_out, recipes = {}, {}
    for recipe, settings in VARIANTS:
        row = rows[settings["name"]]
        manifest = read_json(run_dir / "students" / settings["name"] / "manifest.json")
        students_out[settings["name"]] = {
            "recipe": recipe, "seed": settings.get("seed", config.seed),
            "test_acc": row["metrics"]["accuracy"], "dev_acc": manifest["outputs"]["dev"]["accuracy"],
            "parameters": row["parameters"], "disk_bytes": row["disk_bytes"],
            "latency_ratio_bs1": row["speedup"]["1"], "latency_ratio_bs32": row["speedup"]["32"],
            "train_seconds": manifest["seconds"], "steps": manifest["outputs"]["steps"],
        }
        recipes.setdefault(recipe, []).append(row["metrics"]["accuracy"])
    summary = {name: {"mean": statistics.fmean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                      "seeds": len(accs)} for name, accs in recipes.items()}
    results = {"teacher_acc": teacher["metrics"]["accuracy"], "test_examples": report["test"]["examples"],
               "students": students_out, "recipes": summary, "threads_for_latency": report["threads"],
               "command": "TASKDISTIL_DATA=../shared/data python bench/sst2_students.py"
                          + (" --exam-only" if args.exam_only else "")}
    write_json(Path(args.out), results)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
