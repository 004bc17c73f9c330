"""How far a group of students is from its teacher on the test set, with a paired bootstrap interval.

The issue-3 targets compare the mean test accuracy of 3 seeds with the teacher's accuracy on the
same 872 SST-2 test sentences. Both are measured on one small sample of sentences, so this script
resamples the test sentences (with replacement, ``--resamples`` times, seeded) and recomputes, on
each resample, gap = mean over the group's seeds of student accuracy - teacher accuracy. It reports
the observed gap, its 95% percentile interval, the share of resamples where the gap is >= each of
``--margins`` (0 and -0.01: the issue's BiLSTM and CNN targets), and the sentences each student
gets right and the teacher wrong (and the reverse). Students are grouped by
run and recipe: ``runs/X/students/bilstm-s2/model`` joins group ``X/bilstm``.

    TASKDISTIL_DATA=../shared/data python bench/teacher_gap.py examples/sst2-transfer.yaml \
        runs/sst2-transfer/students/*/model
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import recipe_name  # noqa: E402
from taskdistil.config import load_config  # noqa: E402
from taskdistil.exam.bootstrap import resampled_means  # noqa: E402
from taskdistil.io import write_json  # noqa: E402
from taskdistil.pipeline import Run  # noqa: E402
from taskdistil.tasks import load_task_data  # noqa: E402

RESULTS = REPO / "bench" / "results" / "teacher_gap.json"


def group_of(model_dir: Path) -> str:
    """``runs/X/students/bilstm-s2/model`` (or ``runs/X/bilstm-s2/model``) -> ``X/bilstm``."""
    run = model_dir.parent.parent
    run = run.parent if run.name == "students" else run
    return f"{run.name}/{recipe_name(model_dir.parent.name)}"


def bootstrap_gap(teacher_right: np.ndarray, students_right: np.ndarray, resamples: int, seed: int,
                  margins: list[float]) -> dict:
    """Paired bootstrap of mean(student accuracy) - teacher accuracy; rows of ``students_right`` are seeds."""
    # the exam's vectorised bootstrap: the same draws as a loop of rng.integers(0, n, n) per resample
    gaps = resampled_means((students_right.mean(0) - teacher_right)[:, None], resamples, seed)[:, 0]
    low, high = np.percentile(gaps, [2.5, 97.5])
    return {"gap": round(float(students_right.mean() - teacher_right.mean()), 4),
            "ci95": [round(float(low), 4), round(float(high), 4)],
            "share_gap_at_least": {f"{m:+g}": round(float((gaps >= m).mean()), 4) for m in margins}}


def main() -> None:
    import taskdistil

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path)
    parser.add_argument("models", nargs="+", type=Path, help="student model directories")
    parser.add_argument("--resamples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--margins", nargs="+", type=float, default=[0.0, -0.01],
                        help="report the share of resamples with gap >= each (the targets: 0 BiLSTM, -0.01 CNN)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    test = load_task_data(config).test
    gold = np.array(test.labels)
    teacher_right = np.array(taskdistil.load(Run(config).teacher_model_dir).predict(test.texts)) == gold
    groups: dict[str, list[tuple[str, np.ndarray]]] = defaultdict(list)
    for model in args.models:
        groups[group_of(model)].append((str(model), np.array(taskdistil.load(model).predict(test.texts)) == gold))
    results = {"config": str(args.config), "test_examples": int(gold.size),
               "teacher_acc": round(float(teacher_right.mean()), 4),
               "resamples": args.resamples, "seed": args.seed, "groups": {}}
    for name, members in groups.items():
        right = np.stack([r for _, r in members])
        entry = bootstrap_gap(teacher_right, right, args.resamples, args.seed, args.margins)
        entry["students"] = {model: {"acc": round(float(r.mean()), 4),
                                     "right_where_teacher_wrong": int((r & ~teacher_right).sum()),
                                     "wrong_where_teacher_right": int((~r & teacher_right).sum())}
                             for model, r in members}
        results["groups"][name] = entry
        print(f"{name}: gap {entry['gap']:+.4f}, 95% interval [{entry['ci95'][0]:+.4f}, {entry['ci95'][1]:+.4f}], "
              + ", ".join(f"gap >= {m} in {share:.1%}" for m, share in entry["share_gap_at_least"].items())
              + f" of resamples ({len(members)} students)", flush=True)
    write_json(args.out, results)


if __name__ == "__main__":
    main()
