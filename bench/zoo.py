"""The student zoo on SST-2: every student kind and paper recipe on one transfer set, 3 seeds each.

Runs examples/sst2-zoo.yaml through the CLI (`python -m taskdistil ...`):

    1. teacher (adopted), transfer (the 60,614 training phrases) and annotate (logits + the teacher's
       [CLS] states of the layers the Patient KD and XtremeDistil students need), on all cores;
    2. every student with `distill --student NAME`, ``--workers`` at a time with ``--student-threads``
       torch threads each, longest first;
    3. `taskdistil run`: every stage is up to date but export and exam; the exam scores each student on
       SST-2 test (872 sentences) and times it against the eager PyTorch teacher (1 thread, batch 1 and
       32, same process, warm-up first).

Writes bench/results/zoo.json: ``{"recipes": {NAME: {mean, std, seeds, latency_ratio_bs1,
latency_ratio_bs32, ...}}}``; NAME is the student name without its ``-sN`` seed suffix (it starts with
the student kind). ``std`` is the sample standard deviation over seeds; a latency ratio is the median
over the recipe's seeds of teacher p50 / student p50.

    TASKDISTIL_DATA=../shared/data python bench/zoo.py
    TASKDISTIL_DATA=../shared/data python bench/zoo.py --only transformer-kd transformer-finetune
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import cli, recipe_name  # noqa: E402
from taskdistil.io import read_json, write_json  # noqa: E402

CONFIG = REPO / "examples" / "sst2-zoo.yaml"
RESULTS = REPO / "bench" / "results" / "zoo.json"
# Recipes in rough cost order (longest first), so that the last job to start is a short one.
COST_ORDER = ("bilstm-xtremedistil", "bilstm-single-stage", "transformer-pkd-skip", "transformer-kd",
              "transformer-finetune", "hf-minilm3-kd", "bilstm-tang", "bilstm-hard", "bilstm-xtremedistil-small",
              "bilstm-single-stage-small", "cnn-kim")


def cost_rank(name: str) -> int:
    recipe = recipe_name(name)
    return COST_ORDER.index(recipe) if recipe in COST_ORDER else len(COST_ORDER)


def summarise(report: dict, run_dir: Path) -> dict:
    """Per recipe: the exam's quality over seeds, per-seed accuracy, latency ratios, training seconds."""
    rows = {m["name"]: m for m in report["models"] if m["runtime"] == "torch" and m["role"] != "teacher"}
    primary = report["primary_metric"]
    groups: dict[str, list[str]] = {}
    for name in rows:
        groups.setdefault(recipe_name(name), []).append(name)
    recipes = {}
    for name, members in groups.items():
        quality = rows[members[0]]["quality"]  # the exam groups students whose settings differ only in name and seed
        if sorted(quality["members"]) != sorted(members):
            raise SystemExit(f"recipe {name}: the exam grouped {quality['members']} over seeds, not {members}")
        ratio = {bs: [rows[m]["ratios"]["vs_teacher"]["1"][bs] for m in members] for bs in ("1", "32")}
        recipes[name] = {
            "mean": round(quality["mean"], 4),
            "std": round(quality["std"], 4),
            "seeds": quality["seeds"],
            "latency_ratio_bs1": round(statistics.median(ratio["1"]), 2),
            "latency_ratio_bs32": round(statistics.median(ratio["32"]), 2),
            "accuracy_by_student": {m: round(rows[m]["metrics"][primary], 4) for m in members},
            "p50_ms_bs1": round(statistics.median(rows[m]["latency"]["1"]["1"]["p50_ms"] for m in members), 3),
            "parameters": rows[members[0]]["parameters"],
            "disk_bytes": rows[members[0]]["disk_bytes"],
            "train_seconds": {m: read_json(run_dir / "students" / m / "manifest.json").get("seconds") for m in members},
        }
    return recipes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--only", nargs="+", default=None, help="train only these recipes (names without -sN); "
                        "the exam still examines every trained student of the config")
    parser.add_argument("--workers", type=int, default=2, help="students trained at once")
    parser.add_argument("--student-threads", type=int, default=1, help="torch threads per student")
    parser.add_argument("--prepare-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--train-only", action="store_true",
                        help="train the students and stop: no export, exam or results (e.g. while other jobs load "
                        "the machine; a later run finds them trained and times them on a quiet one)")
    parser.add_argument("--summarise-only", action="store_true",
                        help="train and examine nothing: rewrite --out from the run's existing report.json")
    args = parser.parse_args()
    tree = yaml.safe_load(args.config.read_text())
    run_dir = REPO / tree["run_dir"].replace("${name}", tree["name"])
    log_dir = REPO / "runs" / "bench-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    config = str(args.config)
    if args.summarise_only:
        previous = read_json(args.out) if args.out.is_file() else {}
        write_results(args.out, run_dir, previous.get("seconds_this_invocation", {}),
                      previous.get("command", "python bench/zoo.py"))
        return
    seconds = {}
    for stage in ("teacher", "transfer", "annotate"):
        seconds[stage] = round(cli(stage, config, threads=args.prepare_threads,
                                   log=log_dir / f"{tree['name']}-prepare.log"), 1)
    names = [s["name"] for s in tree["students"] if args.only is None or recipe_name(s["name"]) in args.only]
    names.sort(key=cost_rank)
    print(f"training {len(names)} students, {args.workers} at a time ...", file=sys.stderr, flush=True)

    def distill(name: str) -> float:
        took = cli("distill", config, "--student", name, threads=args.student_threads,
                   log=log_dir / f"{tree['name']}-{name}.log")
        print(f"  {name}: {took / 60:.1f} min", file=sys.stderr, flush=True)
        return took

    with ThreadPoolExecutor(args.workers) as pool:
        seconds.update({f"distill:{n}": round(s, 1) for n, s in zip(names, pool.map(distill, names))})
    if args.train_only:
        return
    seconds["run (export + exam)"] = round(cli("run", config, threads=args.prepare_threads,
                                               log=log_dir / f"{tree['name']}-run.log"), 1)
    write_results(args.out, run_dir, seconds, "python bench/zoo.py " + " ".join(sys.argv[1:]))


def write_results(out: Path, run_dir: Path, seconds: dict, command: str) -> None:
    """zoo.json from the run's report.json, and a markdown table of it on stderr."""
    report = read_json(run_dir / "report.json")
    teacher = next(m for m in report["models"] if m["role"] == "teacher" and m["runtime"] == "torch")
    result = {
        "recipes": summarise(report, run_dir),
        "teacher": {"accuracy": round(teacher["metrics"][report["primary_metric"]], 4),
                    "p50_ms_bs1": teacher["latency"]["1"]["1"]["p50_ms"],
                    "p50_ms_bs32": teacher["latency"]["1"]["32"]["p50_ms"],
                    "parameters": teacher["parameters"]},
        "test": report["test"],
        "transfer_set": read_json(run_dir / "transfer" / "summary.json")["by_origin"],
        "timing": report["timing"],
        "seconds_this_invocation": seconds,
        "std": "sample standard deviation over seeds",
        "command": command,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }
    write_json(out, result)
    print("| recipe | test accuracy (mean ± std) | per seed | params | batch-1 ms | x faster bs 1 | x faster bs 32 |\n"
          "|---|---|---|---|---|---|---|", file=sys.stderr)
    print(f"| teacher | {100 * result['teacher']['accuracy']:.2f} | | {teacher['parameters'] / 1e6:.2f}M | "
          f"{teacher['latency']['1']['1']['p50_ms']:.2f} | 1 | 1 |", file=sys.stderr)
    for name, r in sorted(result["recipes"].items()):
        seeds = " / ".join(f"{100 * a:.2f}" for a in r["accuracy_by_student"].values())
        print(f"| {name} | {100 * r['mean']:.2f} ± {100 * r['std']:.2f} | {seeds} | {r['parameters'] / 1e6:.2f}M | "
              f"{r['p50_ms_bs1']:.2f} | {r['latency_ratio_bs1']:.1f} | {r['latency_ratio_bs32']:.1f} |",
              file=sys.stderr)


if __name__ == "__main__":
    main()
