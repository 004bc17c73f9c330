"""The "Which Student is Best?" exam over the seven IndoNLU tasks in ../shared/data/indonlu: per task the teacher, the
example's word-level students (BiLSTM, CNN; with CRF where the example has one) and a 2-layer transformer from the
teacher's layers (plain KD), all exported and examined (quality, retention, parameters, disk, peak RAM, batch-1
latency in PyTorch and in each model's fastest runtime); then per task the best student and the averages.
Writes ``bench/results/indonlu_exam.json``:

    {"mean_retention": .., "min_latency_ratio_bs1": .., "tasks": {TASK: {...}}, ...}

Per task the *best student* is chosen on the **dev** split (the primary metric each student's distill stage
recorded; a tie goes to the faster one), among the students at least ``--min-speedup`` (15) times faster than the
teacher at batch 1 in PyTorch: the target's speed budget, as a user with a latency budget would choose. The best on
dev with no budget is reported beside it (``quality_pick``). ``mean_retention``: the mean over tasks of best student /
teacher on the primary metric (test split); ``min_latency_ratio_bs1``: the smallest, over tasks, of the best
student's batch-1 speed-up over the teacher (PyTorch, one thread); a task where no student meets the budget falls
back to the quality pick, and the target then reads false. Each task is one ``taskdistil run`` of its example
(``runs/<name>`` unless ``--runs DIR``), so finished stages are reused (the example's teacher and transfer set; its
annotations too unless the example had a Patient KD student, whose teacher states the plain-KD transformer does not
read). Transfer data per task: the example's (Indonesian unlabeled text for NERGrit and POSP; augmentation
elsewhere).

    TASKDISTIL_DATA=../shared/data python bench/indonlu_exam.py --workers 2 [--tasks smsa emot ...] [--runs DIR] \
        [--reexamine]     # --reexamine: measure the finished students again (e.g. on a quiet machine)
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

from bench.task_kinds import run_measured  # noqa: E402
from taskdistil.io import read_json, write_json  # noqa: E402

RESULTS = REPO / "bench" / "results" / "indonlu_exam.json"
TASKS = {"smsa": "examples/smsa.yaml", "emot": "examples/emot.yaml", "casa": "examples/casa.yaml",
         "wrete": "examples/wrete.yaml", "posp": "examples/posp.yaml", "nergrit": "examples/nergrit.yaml",
         "terma": "examples/terma.yaml"}
EXAMINED_KINDS = ("bilstm", "cnn")
# The paper's third student: two teacher layers, plain KD (tagging has no Patient KD), BERT-style fine-tuning.
TRANSFORMER = {"name": "transformer-2l", "kind": "transformer", "layers": 2,
               "loss": {"soft": "mse", "hard_weight": 0.2},
               "train": {"epochs": 3, "batch_size": 32, "learning_rate": 1.0e-4, "optimizer": "adamw",
                         "scheduler": "linear", "warmup_ratio": 0.1, "evals_per_epoch": 1}}
EXAM = {"threads": [1], "batch_sizes": [1, 32], "runtimes": ["torch", "onnx", "onnx-int8"], "memory": True,
        "reference": "none", "max_seconds": 3.0}


def exam_students(path: str) -> list[dict]:
    """The example's bilstm and cnn students (its other kinds left out) and ``TRANSFORMER``."""
    students = [s for s in yaml.safe_load(Path(path).read_text(encoding="utf-8"))["students"]
                if s.get("kind", "bilstm") in EXAMINED_KINDS]
    return [*students, TRANSFORMER]


def dev_scores(run_dir: Path, names: list[str], metric: str) -> dict[str, float]:
    """Each student's ``metric`` on the dev split, as its distill stage recorded it (students/NAME/manifest.json)."""
    scores = {}
    for name in names:
        manifest = read_json(run_dir / "students" / name / "manifest.json")
        dev = (manifest.get("outputs") or {}).get("dev") or {}
        if metric not in dev:
            sys.exit(f"{run_dir / 'students' / name / 'manifest.json'}: no dev {metric!r} (keys: {sorted(dev)})")
        scores[name] = dev[metric]
    return scores


def pick(models: dict, dev: dict[str, float], min_speedup: float = 0.0) -> str | None:
    """The best student on dev among those at least ``min_speedup`` x faster (PyTorch, batch 1); ties: the faster."""
    eligible = [n for n in models if models[n]["latency_ratio_bs1"] >= min_speedup]
    return max(eligible, key=lambda n: (dev[n], models[n]["latency_ratio_bs1"])) if eligible else None


def task_row(measurements: dict, dev: dict[str, float], min_speedup: float = 15.0) -> dict:
    """Teacher, every student (PyTorch rows, with its dev score) and the best student of one task's exam: chosen on
    dev under the ``min_speedup`` budget (the quality pick if none meets it)."""
    primary, rows = measurements["primary_metric"], measurements["models"]

    def p50(row: dict) -> float:
        return row["latency"]["1"]["1"]["p50_ms"]

    def peak(row: dict) -> int | None:
        return (row.get("memory") or {}).get("peak_rss_bytes")

    teacher = next(r for r in rows if r["role"] == "teacher" and r["runtime"] == "torch")
    fastest_teacher = min((r for r in rows if r["role"] == "teacher"), key=p50)
    models = {}
    for row in (r for r in rows if r["role"] == "student" and r["runtime"] == "torch"):
        fastest = min((r for r in rows if r["name"] == row["name"]), key=p50)
        models[row["name"]] = {
            "kind": row["kind"], primary: round(row["metrics"][primary], 4),
            f"dev_{primary}": round(dev[row["name"]], 4),
            "retention": round(row["metrics"][primary] / teacher["metrics"][primary], 4),
            "parameters": row["parameters"], "disk_bytes": row["disk_bytes"], "peak_rss_bytes": peak(row),
            "latency_bs1_ms": p50(row), "latency_ratio_bs1": round(p50(teacher) / p50(row), 2),
            "best_runtime": fastest["runtime"],
            "best_runtime_ratio_bs1": round(p50(fastest_teacher) / p50(fastest), 2)}
    quality = pick(models, dev)
    best = pick(models, dev, min_speedup) or quality
    return {"metric": primary, "test_examples": measurements["test"]["examples"],
            "teacher": {primary: round(teacher["metrics"][primary], 4), "parameters": teacher["parameters"],
                        "disk_bytes": teacher["disk_bytes"], "peak_rss_bytes": peak(teacher),
                        "latency_bs1_ms": p50(teacher), "best_runtime": fastest_teacher["runtime"]},
            "chosen_on": "dev", "min_speedup": min_speedup,
            "best_student": best, "retention": models[best]["retention"],
            "latency_ratio_bs1": models[best]["latency_ratio_bs1"],
            "best_runtime_ratio_bs1": models[best]["best_runtime_ratio_bs1"],
            "quality_pick": {"student": quality, "retention": models[quality]["retention"],
                             "latency_ratio_bs1": models[quality]["latency_ratio_bs1"]},
            "students": models}


def summarize(tasks: dict) -> dict:
    """Averages over the tasks' best students, and the targets: mean retention >= 0.97, every best >= 15x; the
    quality picks' (no speed budget) averages beside them."""
    retention = statistics.fmean(t["retention"] for t in tasks.values())
    slowest = min(t["latency_ratio_bs1"] for t in tasks.values())
    quality = [t["quality_pick"] for t in tasks.values() if "quality_pick" in t]
    picks = {"mean_retention": round(statistics.fmean(q["retention"] for q in quality), 4),
             "min_latency_ratio_bs1": min(q["latency_ratio_bs1"] for q in quality)} if quality else None
    return {"mean_retention": round(retention, 4), "min_latency_ratio_bs1": slowest,
            "mean_latency_ratio_bs1": round(statistics.fmean(t["latency_ratio_bs1"] for t in tasks.values()), 2),
            "quality_picks": picks,
            "targets": {"mean_retention_at_least_0.97": retention >= 0.97, "every_best_at_least_15x": slowest >= 15,
                        "all_7_tasks": len(tasks) == len(TASKS)},
            "tasks_measured": sorted(tasks), "tasks": tasks}


def table(results: dict) -> str:
    """Markdown: per task the teacher, each student (test metric, dev metric, speed-up) and the pick; the averages."""
    lines = ["| task (metric, test size) | teacher | student: test (dev), x faster bs 1 PyTorch | best student "
             "(chosen on dev, >= 15x) | retention | x faster: PyTorch / fastest runtimes |", "|---" * 6 + "|"]
    for task, t in results["tasks"].items():
        metric = t["metric"]
        students = "; ".join(f"{n} {100 * s[metric]:.2f} ({100 * s.get(f'dev_{metric}', float('nan')):.2f}), "
                             f"{s['latency_ratio_bs1']}x" for n, s in t["students"].items())
        lines.append(f"| {task} ({metric}, {t['test_examples']}) | {100 * t['teacher'][metric]:.2f} | {students} | "
                     f"{t['best_student']} | {100 * t['retention']:.1f}% | {t['latency_ratio_bs1']}x / "
                     f"{t['best_runtime_ratio_bs1']}x |")
    picks = results.get("quality_picks") or {}
    lines.append(f"\nmean retention {100 * results['mean_retention']:.1f}%, slowest best student "
                 f"{results['min_latency_ratio_bs1']}x; best on dev without a speed budget: mean retention "
                 f"{100 * picks.get('mean_retention', float('nan')):.1f}%, "
                 f"slowest {picks.get('min_latency_ratio_bs1')}x")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=list(TASKS))
    parser.add_argument("--runs", default=None, help="run directories under DIR/<task> (default: the examples')")
    parser.add_argument("--workers", type=int, default=1, help="students trained in parallel processes")
    parser.add_argument("--min-speedup", type=float, default=15.0,
                        help="the speed budget the best student is chosen under (PyTorch, batch 1; default 15)")
    parser.add_argument("--reexamine", action="store_true", help="run the exam stage again (fresh latency figures)")
    parser.add_argument("--table", action="store_true", help="print indonlu_exam.json as Markdown and stop")
    args = parser.parse_args()
    if args.table:
        print(table(read_json(RESULTS)))
        return
    results = read_json(RESULTS) if RESULTS.is_file() else {"tasks": {}}
    for task in args.tasks:
        overrides = ["students=" + json.dumps(exam_students(TASKS[task])), "exam=" + json.dumps(EXAM)]
        if args.runs:
            overrides.append(f"run_dir={Path(args.runs) / task}")
        config, measurements = run_measured(TASKS[task], overrides, args.workers, args.reexamine)
        dev = dev_scores(config.resolved_run_dir(), [s.name for s in config.students], measurements["primary_metric"])
        results["tasks"][task] = task_row(measurements, dev, args.min_speedup)
        results["tasks"][task]["command"] = f"python bench/indonlu_exam.py --tasks {task}"
        write_json(RESULTS, {**summarize(results["tasks"]), "command": "python bench/indonlu_exam.py --workers 2"})
    print(json.dumps(read_json(RESULTS), indent=2))


if __name__ == "__main__":
    main()
