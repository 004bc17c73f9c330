"""Patient KD (Sun et al. 2019) on SST-2 and MRPC: 3-layer and 2-layer transformer students from the 6-layer MiniLM
teacher, each trained four ways over the training set (the paper's setting: no augmentation): fine-tuning only (the
gold labels, no teacher), vanilla KD (KL at T 10, a = 0.5), PKD-Last and PKD-Skip (b = 100); ``--seeds`` each (the
paper: mean ± std over seeds). Writes ``bench/results/pkd.json``:

    {DATASET: {"teacher_acc": .., "students": {"pkd-skip-3l": {"mean": .., "std": .., "per_seed": ..}, ...}}}

The teacher is the example's (``examples/sst2.yaml``, ``examples/mrpc.yaml``): when that run (``--teacher-run``,
default ``runs/<name>``) has a finished teacher stage, it is copied into this bench's run and reused by the stage
cache (same key: same teacher settings and data); else it is fine-tuned here. The students of all seeds train in
one run (``bench/task_kinds.py``'s seed expansion; ``--workers N``: N at a time).

    TASKDISTIL_DATA=../shared/data python bench/pkd.py --datasets mrpc --seeds 1 2 3 --workers 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.task_kinds import run_measured, seed_overrides, summarize_seeds  # noqa: E402
from taskdistil.config import load_config  # noqa: E402
from taskdistil.io import read_json, write_json  # noqa: E402

RESULTS = REPO / "bench" / "results" / "pkd.json"
EXAMPLES = {"sst2": "examples/sst2.yaml", "mrpc": "examples/mrpc.yaml"}
VARIANTS = {  # the four rows of the paper's Table 1 per student depth
    "ft": {"stages": [{"objective": "hard_labels"}]},                  # fine-tuning only: gold labels, no teacher
    "kd": {"recipe": "pkd-skip", "loss": {"pkd_weight": 0.0}},         # vanilla KD
    "pkd-last": {"recipe": "pkd-last"},
    "pkd-skip": {"recipe": "pkd-skip"},
}
EXAM = {"runtimes": ["torch", "onnx-int8"], "threads": [1], "batch_sizes": [1, 32], "reference": "none",
        "memory": False, "max_seconds": 2.0}


def students(depths: list[int], epochs: int | None) -> list[dict]:
    """One transformer student per (variant, depth), named ``VARIANT-Kl``."""
    out = []
    for layers in depths:
        for variant, spec in VARIANTS.items():
            student = {"name": f"{variant}-{layers}l", "kind": "transformer", "layers": layers, **spec}
            if epochs:
                student["train"] = {"epochs": epochs}
            out.append(student)
    return out


def reuse_teacher(source_run: Path, run_dir: Path) -> None:
    """Copy a finished teacher stage of the example's run (the stage cache checks its key before using it)."""
    source = source_run / "teacher"
    manifest = source / "manifest.json"
    if (run_dir / "teacher").exists() or not manifest.is_file() or read_json(manifest).get("status") != "complete":
        return
    shutil.copytree(source, run_dir / "teacher", ignore=shutil.ignore_patterns("*.lock", "work"))
    print(f"[pkd] teacher copied from {source}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=sorted(EXAMPLES), default=sorted(EXAMPLES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--depths", type=int, nargs="+", default=[3, 2], help="student layers")
    parser.add_argument("--epochs", type=int, default=None, help="student epochs (default: the recipe's 4)")
    parser.add_argument("--teacher-run", default=None, help="the example's run directory (default runs/<name>)")
    parser.add_argument("--workers", type=int, default=1, help="students trained in parallel processes")
    args = parser.parse_args()
    results = read_json(RESULTS) if RESULTS.is_file() else {}
    for dataset in args.datasets:
        path = EXAMPLES[dataset]
        example = load_config(path)
        run_dir = example.resolved_run_dir().parent / f"pkd-{dataset}"
        reuse_teacher(Path(args.teacher_run) if args.teacher_run else example.resolved_run_dir(), run_dir)
        base = [f"run_dir={run_dir}", "transfer={}", "exam=" + json.dumps(EXAM),
                "students=" + json.dumps(students(args.depths, args.epochs))]
        overrides = seed_overrides(path, base, args.seeds)
        _, measurements = run_measured(path, overrides, args.workers)
        names = [s["name"] for s in students(args.depths, args.epochs)]
        entry = summarize_seeds(measurements, names, args.seeds)
        results[dataset] = {"teacher_acc": entry["teacher"], "students": entry["students"], "seeds": args.seeds,
                            "metric": entry["metric"], "test_examples": entry["test_examples"], "split": "test",
                            "std": entry["std"], "transfer_set": "the training set (no augmentation)",
                            "student_epochs": args.epochs or "the recipe's (4)",
                            "command": "python bench/pkd.py --datasets " + dataset + " --seeds "
                            + " ".join(map(str, args.seeds)) + (f" --epochs {args.epochs}" if args.epochs else "")}
        write_json(RESULTS, dict(sorted(results.items())))
    print(json.dumps(read_json(RESULTS), indent=2))


if __name__ == "__main__":
    main()
