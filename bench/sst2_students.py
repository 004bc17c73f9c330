"""SST-2 student variants against one teacher and one annotation cache: which recipe is best?

Runs (or resumes) the pipeline of examples/sst2.yaml with the student list below in one run
directory, so every student shares the teacher and its cached logits, then writes per
student the exam figures, with mean and std over the seeds of each recipe, to
bench/results/sst2_students_<set>.json.

    TASKDISTIL_DATA=../shared/data python bench/sst2_students.py --set-name seeds|explore [--exam-only]
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

# Student sets: (recipe, settings) pairs. Unlisted settings are StudentConfig defaults
# (10 epochs, Adam 1e-3 constant, batch 50, 1 x 150 units, last-state pooling).
_COSINE = {"embedding_mode": "frozen", "train": {"epochs": 10, "scheduler": "cosine"}}
SETS = {
    # the recipes tried first (run directory runs/sst2)
    "explore": [
        ("bilstm-tuned", {"name": "bilstm", "pooling": "last"}),
        ("bilstm-tuned-maxpool", {"name": "bilstm-max", "pooling": "max"}),
        ("bilstm-multichannel", {"name": "bilstm-mc", "pooling": "last", "embedding_mode": "multichannel"}),
        ("bilstm-frozen", {"name": "bilstm-frozen", "pooling": "last", "embedding_mode": "frozen"}),
        ("bilstm-frozen", {"name": "bilstm-frozen-s1", "seed": 1, "embedding_mode": "frozen"}),
        ("bilstm-frozen", {"name": "bilstm-frozen-s2", "seed": 2, "embedding_mode": "frozen"}),
        ("cnn-tuned", {"name": "cnn", "kind": "cnn", "dropout": 0.5}),
    ],
    # the recipe of examples/sst2.yaml over three seeds (run directory runs/bench/sst2)
    "seeds": [
        ("bilstm-frozen-cosine", {"name": "bilstm-cos", **_COSINE}),
        ("bilstm-frozen-cosine", {"name": "bilstm-cos-s1", "seed": 1, **_COSINE}),
        ("bilstm-frozen-cosine", {"name": "bilstm-cos-s2", "seed": 2, **_COSINE}),
    ],
}
DEFAULT_RUN_DIRS = {"explore": REPO / "runs" / "sst2", "seeds": REPO / "runs" / "bench" / "sst2"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set-name", choices=sorted(SETS), default="seeds", help="which student set")
    parser.add_argument("--run-dir", default=None, help="default: runs/sst2 (explore), runs/bench/sst2 (seeds)")
    parser.add_argument("--out", default=None, help="default: bench/results/sst2_students_<set>.json")
    parser.add_argument("--exam-only", action="store_true",
                        help="examine the students already trained in the run directory, whatever their keys")
    args = parser.parse_args()

    variants = SETS[args.set_name]
    run_dir = args.run_dir or str(DEFAULT_RUN_DIRS[args.set_name])
    out = Path(args.out or REPO / "bench" / "results" / f"sst2_students_{args.set_name}.json")
    students = yaml.safe_dump([settings for _, settings in variants], default_flow_style=True).strip()
    config = load_config(REPO / "examples" / "sst2.yaml", [f"run_dir={run_dir}", f"students={students}"])
    if args.exam_only:
        exam_stage(Run(config))
    else:
        run_all(config)
    run_dir = config.resolved_run_dir()
    report = read_json(run_dir / "report.json")
    rows = {m["name"]: m for m in report["models"] if m["runtime"] == "torch"}  # PyTorch rows, as before
    teacher = rows["teacher"]
    students_out, recipes = {}, {}
    for recipe, settings in variants:
        row = rows[settings["name"]]
        manifest = read_json(run_dir / "students" / settings["name"] / "manifest.json")
        students_out[settings["name"]] = {
            "recipe": recipe, "seed": settings.get("seed", config.seed),
            "test_acc": row["metrics"]["accuracy"], "dev_acc": manifest["outputs"]["dev"]["accuracy"],
            "parameters": row["parameters"], "disk_bytes": row["disk_bytes"],
            "latency_ratio_bs1": row["ratios"]["vs_teacher"]["1"]["1"],
            "latency_ratio_bs32": row["ratios"]["vs_teacher"]["1"]["32"],
            "train_seconds": manifest["seconds"], "steps": manifest["outputs"]["steps"],
        }
        recipes.setdefault(recipe, []).append(row["metrics"]["accuracy"])
    summary = {name: {"mean": statistics.fmean(accs), "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                      "seeds": len(accs)} for name, accs in recipes.items()}
    results = {"teacher_acc": teacher["metrics"]["accuracy"], "test_examples": report["test"]["examples"],
               "students": students_out, "recipes": summary, "threads_for_latency": 1,
               "command": f"TASKDISTIL_DATA=../shared/data python bench/sst2_students.py --set-name {args.set_name}"
                          + (" --exam-only" if args.exam_only else "")}
    write_json(out, results)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
