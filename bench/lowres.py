"""XtremeDistil's low-resource setting (Mukherjee & Hassan Awadallah 2020): 500 labeled examples per class, the rest
of the training text as unlabeled transfer data; the teacher fine-tuned on the same labeled examples; students
without KD (the gold labels only), with hard distillation, soft distillation and multi-stage distillation. Writes
``bench/results/lowres.json``:

    {DATASET: {"teacher_acc": .., "kd_acc": .., "nokd_acc": .., "kd_student": .., "students": {..}, ...}}

``kd_acc`` is the test accuracy of the distilled student (hard, soft, multistage) with the best dev accuracy (the
test split is not used to choose; without dev figures, the best on test, said in ``kd_chosen_on``); every student's
accuracy comes with the exam's paired-bootstrap 95% interval of its difference to the teacher, and the chosen one's
difference to the student without KD with its own (``kd_minus_nokd_ci95``, in accuracy). One ``taskdistil run``
of the config (its stages are skipped when complete: a rerun takes minutes); ``--workers N`` trains the students in
N parallel processes (``bench/task_kinds.py``).

    TASKDISTIL_DATA=../shared/data python bench/lowres.py examples/lowres_smsa.yaml --dataset smsa --workers 2
    TASKDISTIL_DATA=../shared/data python bench/lowres.py examples/lowres_sst2.yaml --dataset sst2 --workers 2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.task_kinds import run_measured  # noqa: E402
from taskdistil.exam import PREDICTIONS  # noqa: E402
from taskdistil.exam.bootstrap import intervals  # noqa: E402
from taskdistil.io import read_json, write_json  # noqa: E402

RESULTS = REPO / "bench" / "results" / "lowres.json"
NO_KD = "nokd"
PAPER = {"source": "Mukherjee & Hassan Awadallah 2020, 500 labels per class, BERT-large teacher (METHODS.md)",
         "ag_news": {"teacher_acc": 90.36, "kd_acc": 90.45, "nokd_acc": 85.85},
         "imdb": {"teacher_acc": 89.11, "kd_acc": 89.08, "nokd_acc": 61.53}}


def summarize(measurements: dict, dev: dict[str, float] | None = None) -> dict:
    """Teacher and student accuracy (PyTorch rows), the distilled student chosen on ``dev`` (name -> dev accuracy;
    on test when a distilled student has no dev figure), and the targets: KD within 1 point of the teacher, and
    >= 3 points above the student without KD."""
    rows = {r["name"]: r for r in measurements["models"] if r["runtime"] == "torch"}
    teacher = rows["teacher"]["metrics"]["accuracy"]
    students = {name: {"accuracy": round(r["metrics"]["accuracy"], 4),
                       "vs_teacher": (r.get("vs_teacher") or {}).get("difference"),
                       "vs_teacher_ci95": (r.get("vs_teacher") or {}).get("ci95")}
                for name, r in rows.items() if r["role"] == "student"}
    if NO_KD not in students:
        raise SystemExit(f"the config has no student named {NO_KD!r} (the student without KD)")
    distilled = {n: s for n, s in students.items() if n != NO_KD}
    on_dev = bool(dev) and all(name in dev for name in distilled)
    for name, student in students.items():
        if dev and name in dev:
            student["dev_accuracy"] = round(dev[name], 4)
    best = max(distilled, key=lambda n: dev[n] if on_dev else distilled[n]["accuracy"])
    kd, nokd = distilled[best]["accuracy"], students[NO_KD]["accuracy"]
    return {"teacher_acc": round(teacher, 4), "kd_acc": kd, "kd_student": best,
            "kd_chosen_on": "dev" if on_dev else "test", "nokd_acc": nokd,
            "kd_minus_teacher_points": round(100 * (kd - teacher), 2),
            "kd_minus_teacher_ci95": _rounded(distilled[best]["vs_teacher_ci95"]),  # the exam's interval
            "kd_minus_nokd_points": round(100 * (kd - nokd), 2),
            "targets": {"kd_within_1_point_of_teacher": bool(100 * (teacher - kd) <= 1.0),
                        "kd_3_points_above_nokd": bool(100 * (kd - nokd) >= 3.0)},
            "students": students, "test_examples": measurements["test"]["examples"], "split": "test"}


def nokd_interval(predictions: dict, kd: str) -> dict[str, list[float]]:
    """``kd_minus_nokd_ci95``: the paired-bootstrap 95% interval (the exam's resamples) of the accuracy difference
    KD - no KD, from the exam's per-example test predictions (``PREDICTIONS``: gold, and per "NAME (torch)")."""
    gold = predictions["gold"]

    def right(name: str) -> list[float]:
        return [float(p == g) for p, g in zip(predictions["test"][f"{name} (torch)"], gold)]

    found = intervals({"kd_minus_nokd": [a - b for a, b in zip(right(kd), right(NO_KD))]})["kd_minus_nokd"]
    return {"kd_minus_nokd_ci95": _rounded(found["ci95"])}


def _rounded(ci95: list[float] | None) -> list[float] | None:
    return [round(v, 4) for v in ci95] if ci95 else None


def dev_accuracy(config) -> dict[str, float]:
    """Each finished student's accuracy on the dev split, from its stage manifest."""
    out = {}
    for student in config.students:
        manifest = config.resolved_run_dir() / "students" / student.name / "manifest.json"
        outputs = (read_json(manifest).get("outputs") or {}) if manifest.is_file() else {}
        value = (outputs.get("dev") or {}).get("accuracy")
        if value is not None:
            out[student.name] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--dataset", required=True, help="the key in lowres.json (sst2, smsa)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    parser.add_argument("--workers", type=int, default=1, help="students trained in parallel processes")
    args = parser.parse_args()
    config, measurements = run_measured(args.config, args.overrides, args.workers)
    entry = summarize(measurements, dev_accuracy(config))
    entry.update(nokd_interval(read_json(config.resolved_run_dir() / "exam" / PREDICTIONS), entry["kd_student"]))
    entry.update(labeled_per_class=config.data.labeled_per_class, labeled_seed=config.data.labeled_seed,
                 seed=config.seed, command=" ".join(["python bench/lowres.py", args.config, "--dataset", args.dataset]
                                                   + [f"--set {o}" for o in args.overrides]),
                 paper=PAPER)
    results = read_json(RESULTS) if RESULTS.is_file() else {}
    results[args.dataset] = entry
    write_json(RESULTS, dict(sorted(results.items())))
    print(json.dumps(entry, indent=2))


if __name__ == "__main__":
    main()
