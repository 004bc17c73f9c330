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

``--seeds 1 2 3``: every student of the config is trained once per seed (``NAME-sSEED``, ``seed: SEED``), all in one
run, so the teacher, transfer set and annotations are made once (the run seed trains the teacher) and reused from the
stage cache; the entry then gives per student its mean and SAMPLE standard deviation (n - 1) of the primary metric
over the seeds, each seed's value, and latency ratios as the median over the seeds. ``--table`` prints the
entries of task_kinds.json as a Markdown table (no run).

    python bench/task_kinds.py examples/wrete.yaml --task wrete --seeds 1 2 3 --set run_dir=/tmp/runs/wrete
    python bench/task_kinds.py --table [--task wrete]

``--workers N``: the teacher, transfer set and annotations are made here, then every student trains in its own
``taskdistil distill --student NAME`` process, N at a time, one torch thread each (log: RUN/logs/distill-NAME.log);
the exam then runs here as usual. Same stage keys as a serial run: a stopped run resumes either way.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from taskdistil.config import load_config  # noqa: E402
from taskdistil.config_load import apply_override, parse_override  # noqa: E402
from taskdistil.io import read_json, write_json  # noqa: E402
from taskdistil.pipeline import run_all, run_one  # noqa: E402

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


def seed_overrides(path: str, overrides: list[str], seeds: list[int]) -> list[str]:
    """``overrides`` plus one that lists every student of the config (after ``overrides``) once per seed, seed-major
    (a run stopped early holds whole seeds): name ``NAME-sSEED``, ``seed: SEED``."""
    tree = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    for text in overrides:
        apply_override(tree, *parse_override(text))
    students = [{**s, "name": f"{s['name']}-s{seed}", "seed": seed} for seed in seeds for s in tree["students"]]
    return [*overrides, "students=" + json.dumps(students)]


def summarize_seeds(measurements: dict, students: list[str], seeds: list[int], threads: str = "1") -> dict:
    """Per student of the config: mean and sample std (n - 1) of the primary metric over its seeds; latency ratios
    (teacher p50 / student p50, PyTorch, ``threads``) as medians over the seeds."""
    primary, rows = measurements["primary_metric"], measurements["models"]
    by_key = {(r["name"], r["runtime"]): r for r in rows}

    def p50(row: dict, bs: str) -> float:
        return row["latency"][threads][bs]["p50_ms"]

    teacher = by_key[("teacher", "torch")]
    fastest_teacher = min((r for r in rows if r["role"] == "teacher"), key=lambda r: p50(r, "1"))
    out = {}
    for name in students:
        members = [f"{name}-s{seed}" for seed in seeds]
        torch_rows = [by_key[(m, "torch")] for m in members]
        values = [r["metrics"][primary] for r in torch_rows]
        fastest = [min((r for r in rows if r["name"] == m), key=lambda r: p50(r, "1")) for m in members]
        out[name] = {
            "kind": torch_rows[0]["kind"], "mean": round(statistics.fmean(values), 4),
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            "per_seed": {str(seed): round(v, 4) for seed, v in zip(seeds, values)},
            "latency_ratio_bs1": round(statistics.median(p50(teacher, "1") / p50(r, "1") for r in torch_rows), 2),
            "latency_ratio_bs32": round(statistics.median(p50(teacher, "32") / p50(r, "32") for r in torch_rows), 2),
            "best_runtime_ratio_bs1": round(statistics.median(p50(fastest_teacher, "1") / p50(r, "1")
                                                              for r in fastest), 2),
            "parameters": torch_rows[0].get("parameters"),
        }
    best = max(out, key=lambda n: out[n]["mean"])
    entry = {"metric": primary, "test_examples": measurements["test"]["examples"],
             "teacher": round(teacher["metrics"][primary], 4), "best_student": out[best]["mean"],
             "best_student_std": out[best]["std"], "student_kind": out[best]["kind"], "student_name": best,
             "retention": round(out[best]["mean"] / teacher["metrics"][primary], 4),
             "latency_ratio_bs1": out[best]["latency_ratio_bs1"], "latency_ratio_bs32": out[best]["latency_ratio_bs32"],
             "best_runtime_ratio_bs1": out[best]["best_runtime_ratio_bs1"],
             "best_runtimes": {"teacher": fastest_teacher["runtime"]}, "students": out, "threads": int(threads),
             "std": "sample standard deviation over the seeds (n - 1); the teacher is one model (the run seed)"}
    majority = (measurements.get("baselines") or {}).get("majority")
    if majority:
        entry["majority_class"] = {"label": majority["label"], primary: round(majority["metrics"][primary], 4),
                                   "accuracy": round(majority["metrics"]["accuracy"], 4)}
    return entry


def distill_in_parallel(config_path: str, overrides: list[str], config, workers: int) -> None:
    """Teacher, transfer set and annotations in this process; then one ``taskdistil distill --student NAME`` process
    per student, ``workers`` at a time, with one torch thread each. A failed student is named with its log; the
    students that finished keep their completed stages."""
    for stage in ("teacher", "transfer", "annotate"):
        run_one(config, stage)
    logs = config.resolved_run_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "taskdistil", "distill", config_path]
    for override in overrides:
        command += ["--set", override]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

    def distill(name: str) -> tuple[str, int]:
        with open(logs / f"distill-{name}.log", "w", encoding="utf-8") as out:
            done = subprocess.run([*command, "--student", name], stdout=out, stderr=subprocess.STDOUT, env=env)
        print(f"[distill:{name}] {'done' if done.returncode == 0 else 'FAILED'} (log: {logs / f'distill-{name}.log'})",
              flush=True)
        return name, done.returncode

    with ThreadPoolExecutor(workers) as pool:
        failed = [name for name, code in pool.map(distill, [s.name for s in config.students]) if code]
    if failed:
        sys.exit(f"students failed: {', '.join(failed)}; their logs are in {logs}")


def run_measured(config_path: str, overrides: list[str], workers: int = 1, reexamine: bool = False):
    """(the run config, its exam's measurements) after one ``taskdistil run`` of ``config_path`` under
    ``overrides`` (finished stages are reused); ``workers`` > 1: the students train in parallel processes first
    (``distill_in_parallel``); ``reexamine``: the exam stage runs again even when up to date (fresh timings)."""
    config = load_config(config_path, overrides)
    if workers > 1:
        distill_in_parallel(config_path, overrides, config, workers)
    if reexamine:
        for stage in ("teacher", "transfer", "annotate", "distill"):
            run_one(config, stage)
        run_one(config, "exam", force=True)
    else:
        run_all(config)
    return config, read_json(config.resolved_run_dir() / "exam" / "measurements.json")


def table(results: dict, tasks: list[str] | None = None) -> str:
    """Markdown: per task, the teacher, the majority class where known, and each student (mean ± std over seeds)."""
    lines = ["| task | model | kind | metric (test) | x faster bs 1 | x faster bs 32 | fastest runtime bs 1 |",
             "|---|---|---|---|---|---|---|"]
    for task in tasks or sorted(results):
        e = results[task]
        lines.append(f"| {task} | teacher | teacher | {100 * e['teacher']:.2f} | 1 | 1 | |")
        if "majority_class" in e:
            m = e["majority_class"]
            lines.append(f"| {task} | majority class ({m['label']}) | baseline | {100 * m[e['metric']]:.2f} | | | |")
        for name, s in e["students"].items():
            value = s.get("mean", s.get(e["metric"]))
            spread = f" ± {100 * s['std']:.2f}" if "std" in s else ""
            lines.append(f"| {task} | {name} | {s['kind']} | {100 * value:.2f}{spread} | {s['latency_ratio_bs1']} | "
                         f"{s['latency_ratio_bs32']} | {s.get('best_runtime_ratio_bs1', '')} |")
    return "\n".join(lines) + ("\n\nmetric x 100 on the test split; ± sample std over the seeds of task_kinds.json; "
                              "x faster: teacher p50 / student p50, PyTorch, 1 thread\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?")
    parser.add_argument("--task", help="the key in task_kinds.json (e.g. nergrit, wikiann_en)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="train every student once per seed (one teacher and annotation cache for all)")
    parser.add_argument("--table", action="store_true", help="print task_kinds.json as a Markdown table")
    parser.add_argument("--workers", type=int, default=1,
                        help="train students in this many parallel processes (one thread each)")
    parser.add_argument("--note", default=None, help="what differs from the example (e.g. a training subset)")
    args = parser.parse_args()
    if args.table and not args.config:
        print(table(read_json(RESULTS), [args.task] if args.task else None))
        return
    if not args.config or not args.task:
        parser.error("a run needs CONFIG and --task")
    overrides = seed_overrides(args.config, args.overrides, args.seeds) if args.seeds else args.overrides
    config, measurements = run_measured(args.config, overrides, args.workers)
    if args.seeds:
        names = [s.name.rsplit("-s", 1)[0] for s in config.students[:len(config.students) // len(args.seeds)]]
        entry = summarize_seeds(measurements, names, args.seeds)
    else:
        entry = summarize(measurements)
    entry["command"] = " ".join(["python bench/task_kinds.py", args.config, "--task", args.task]
                                + (["--seeds", *map(str, args.seeds)] if args.seeds else [])
                                + [f"--set {o}" for o in args.overrides])
    entry["split"] = "test"
    entry["seeds"] = args.seeds or [config.seed]
    if args.note:
        entry["note"] = args.note
    results = read_json(RESULTS) if RESULTS.is_file() else {}
    results[args.task] = entry
    write_json(RESULTS, dict(sorted(results.items())))
    print(json.dumps(entry, indent=2))
    if args.table:
        print(table(results, [args.task]))


if __name__ == "__main__":
    main()
