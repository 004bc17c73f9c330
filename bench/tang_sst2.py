"""Tang et al. 2019 on SST-2 (METHODS.md §1): the teacher; a BiLSTM without a teacher; with logit MSE on the training
phrases only; with 20x augmentation; with unlabeled in-domain sentences (IMDB); with everything. Per row: test
accuracy over ``--seeds`` (mean ± sample std), parameters, disk, batch-1 speed-up over the teacher (PyTorch against
PyTorch, and each in its fastest runtime), and fidelity (agreement with the teacher on the IMDB sentences held out
of the transfer set). Next to the paper's row. Writes ``bench/results/tang_sst2.json``:

    {"teacher_acc": .., "best_student_acc": .., "best_student": .., "latency_ratio_bs1": ..,
     "best_runtime_ratio_bs1": .., "agreement_heldout": .., "rows": {..}, "paper": {..}}

One run of ``examples/tang_sst2.yaml`` with its students repeated per seed (one teacher, one annotation for all;
finished stages are reused, so a rerun takes minutes); the teacher is adopted from ``runs/sst2`` (``--set
teacher.model=...`` for another).

    TASKDISTIL_DATA=../shared/data python bench/tang_sst2.py --seeds 1 2 3 4 5 --workers 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.task_kinds import run_measured, seed_overrides, summarize_seeds  # noqa: E402
from taskdistil.config import load_config  # noqa: E402
from taskdistil.io import write_json  # noqa: E402

RESULTS = REPO / "bench" / "results" / "tang_sst2.json"
CONFIG = "examples/tang_sst2.yaml"
PAPER = {"source": "Tang et al. 2019, GLUE test, BERT-large teacher (METHODS.md)", "teacher_acc": 94.9,
         "bilstm_soft_acc": 90.7, "bilstm_without_kd_acc": 86.7, "parameters_ratio": 349, "speed_ratio": 434}


def fidelity(measurements: dict, name: str, seeds: list[int]) -> float | None:
    """Mean over the seeds of the student's agreement with the teacher on the held-out texts (PyTorch rows)."""
    values = [r["fidelity"]["agreement"] for r in measurements["models"]
              if r["runtime"] == "torch" and r["name"] in {f"{name}-s{s}" for s in seeds} and r.get("fidelity")]
    return round(statistics.fmean(values), 4) if values else None


def summarize(measurements: dict, names: list[str], seeds: list[int]) -> dict:
    entry = summarize_seeds(measurements, names, seeds)
    rows = {}
    for name, row in entry["students"].items():
        rows[name] = {**row, "agreement_heldout": fidelity(measurements, name, seeds)}
    distilled = {n: r for n, r in rows.items() if n != "nokd"}
    best = max(distilled, key=lambda n: distilled[n]["mean"])
    return {"teacher_acc": entry["teacher"], "best_student": best, "best_student_acc": rows[best]["mean"],
            "best_student_std": rows[best]["std"], "retention": round(rows[best]["mean"] / entry["teacher"], 4),
            "latency_ratio_bs1": rows[best]["latency_ratio_bs1"],
            "best_runtime_ratio_bs1": rows[best]["best_runtime_ratio_bs1"],
            "agreement_heldout": rows[best]["agreement_heldout"], "rows": rows, "seeds": seeds, "split": "test",
            "test_examples": entry["test_examples"], "std": entry["std"], "paper": PAPER}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    parser.add_argument("--workers", type=int, default=1, help="students trained in parallel processes")
    args = parser.parse_args()
    names = [s.name for s in load_config(CONFIG, args.overrides).students]
    overrides = seed_overrides(CONFIG, args.overrides, args.seeds)
    _, measurements = run_measured(CONFIG, overrides, args.workers)
    entry = summarize(measurements, names, args.seeds)
    entry["command"] = " ".join(["python bench/tang_sst2.py --seeds", *map(str, args.seeds)]
                                + [f"--set {o}" for o in args.overrides])
    write_json(RESULTS, entry)
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
