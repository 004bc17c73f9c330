"""The exam's speed before and after fast scoring (issue 20), same figures; and the SST-2 verdict rows.

Builds a task with a 7,600-example test split (the first 7,600 reviews of IndoNLU SmSA's training file; the
teacher, embedded MiniLM, is fine-tuned for one epoch on SmSA's 1,260 validation reviews, dev = SmSA's 500 test
reviews; three small students trained for one epoch: quality does not matter, timing does), runs every stage up to
export once, copies the run directory twice and times the exam stage (a child process each) with the code of
``--before`` (default: a ``git worktree`` of main at its current commit, on ``PYTHONPATH``) and with this checkout.
The "before" child records each model's predictions as the old exam scores them (a wrapper around
``taskdistil.exam.batched_logits`` that does not change what is computed), so predictions are compared example by
example, and every row's metrics (and int8's batched metrics) are compared too.

``--sst2 RUN_DIR`` (a finished SST-2 run, e.g. the baseline run of examples/sst2.yaml): copies it, runs this
checkout's exam on the copy and compares every row's quality figures with the run's own exam; the rows with their
intervals go into the results.

    TASKDISTIL_DATA=../shared/data nice -n 10 python bench/exam_verdict.py --sst2 ../wt-baseline/runs/sst2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "exam_verdict.json"
SMSA = "indonlu/smsa_doc-sentiment-prosa"
TEST_ROWS = 7600
# a teacher that learned something (1 epoch at 5e-5 answered the majority class for every review), so that "same
# predictions" compares predictions that vary
TEACHER_EPOCHS = 3
SMALL = {"embedding_dim": 64, "embedding_mode": "tuned", "train": {"epochs": 1, "batch_size": 32}}
STUDENTS = [{"name": "bilstm", "kind": "bilstm", "hidden_size": 64, "fc_dim": 64, **SMALL},
            {"name": "cnn", "kind": "cnn", "num_filters": 32, **SMALL},
            {"name": "bilstm-small", "kind": "bilstm", "hidden_size": 32, "fc_dim": 32, **SMALL}]
# Light timing settings: the quality pass is what fast scoring changes; the timing budget is the user's choice.
# Threads: the default (1 and all cores): the quality pass may use every core, before and after.
EXAM = {"threads": [1, 0], "batch_sizes": [1, 32], "warmup": 3, "max_batches": 30, "max_seconds": 1.0,
        "reference": "none", "memory": False}

# Runs the old exam in a child, recording each model's predictions as the old code scores them.
RECORD = """
import json, sys
import taskdistil.exam as exam
from taskdistil.cli import main
original, seen = exam.batched_logits, {}
def recorded(forward, encoded, pad_id, batch_size=128, *args, **kwargs):
    logits = original(forward, encoded, pad_id, batch_size, *args, **kwargs)
    frame = sys._getframe(1).f_locals
    seen[f"{frame['name']} ({frame['runtime']})|{batch_size}"] = logits[:, frame['order']].argmax(-1).tolist()
    return logits
exam.batched_logits = recorded
code = main(sys.argv[2:])
json.dump(seen, open(sys.argv[1], "w"))
sys.exit(code)
"""


def _write_tsv(src: Path, dst: Path, rows: int | None = None) -> int:
    lines = [line for line in src.read_text(encoding="utf-8").splitlines() if line.strip()]
    lines = lines[:rows] if rows else lines
    dst.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def build_task(work: Path, data_dir: Path, task: str) -> Path:
    """SmSA: 1,260 train, 500 dev, 7,600 test reviews. sst2: 2,000 train and 500 dev phrases, the 872 test sentences."""
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    if task == "smsa":
        src = data_dir / SMSA
        counts = {"train": _write_tsv(src / "valid_preprocess.tsv", data / "train.tsv"),
                  "dev": _write_tsv(src / "test_preprocess.tsv", data / "dev.tsv"),
                  "test": _write_tsv(src / "train_preprocess.tsv", data / "test.tsv", TEST_ROWS)}
        assert counts["test"] == TEST_ROWS, counts
        reading = {"header": False, "text_column": 0, "label_column": 1, "too_long": "truncate"}
    else:
        src = data_dir / "sst2"
        counts = {"train": _write_tsv(src / "train.tsv", data / "train.tsv", 2001),
                  "dev": _write_tsv(src / "dev.tsv", data / "dev.tsv", 501),
                  "test": _write_tsv(src / "test.tsv", data / "test.tsv")}
        assert counts["test"] == 873, counts
        reading = {"text_column": "sentence", "label_column": "label"}
    config = {"name": f"exam_verdict_{task}", "run_dir": str(work / "run"), "seed": 1,
              "data": {"dir": str(data), "train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv", **reading},
              "teacher": {"model": "embedded:minilm-l6", "max_length": 128,
                          "train": {"epochs": TEACHER_EPOCHS, "batch_size": 32, "learning_rate": 1e-4,
                                    "optimizer": "adamw",
                                    "evals_per_epoch": 1}},
              "students": STUDENTS, "exam": EXAM}
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def child(code: Path, args: list[str], log: Path, python_args: list[str] | None = None) -> float:
    """Seconds of ``python -m taskdistil ARGS`` (or ``python PYTHON_ARGS ARGS``) with ``code`` on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    env.pop("TASKDISTIL_DATA", None)  # the configs name their data directories
    command = [sys.executable, *(python_args or ["-m", "taskdistil"]), *args]
    t0 = time.perf_counter()
    with log.open("a") as fh:
        done = subprocess.run(command, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=log.parent, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(command[:4])} ... failed (rc {done.returncode}); see {log}")
    return time.perf_counter() - t0


def main_worktree(work: Path) -> Path:
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "main"], capture_output=True, text=True,
                            check=True).stdout.strip()
    tree = work / f"main-{commit[:7]}"
    if not tree.is_dir():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), commit], check=True)
    return tree


def _drop_new_defaults(run_dir: Path) -> None:
    """Let the old code read students saved by this one: drop the ``head`` setting (added with token tagging) where
    it holds its default, the only behaviour the old code had."""
    for path in run_dir.glob("export/*/model/config.json"):
        meta = json.loads(path.read_text())
        if meta.get("model", {}).get("head") == "sequence":
            del meta["model"]["head"]
            path.write_text(json.dumps(meta, indent=2))


def compare(before: dict, after: dict, recorded: dict, predictions: dict) -> dict:
    rows_b = {m["label"]: m for m in before["models"]}
    rows_a = {m["label"]: m for m in after["models"]}
    same_metrics = all(rows_b[k]["metrics"] == rows_a[k]["metrics"]
                       and rows_b[k].get("metrics_batched") == rows_a[k].get("metrics_batched") for k in rows_b)
    differing = {k: sum(x != y for x, y in zip(recorded[f"{k}|1"], predictions[k]))
                 for k in predictions if f"{k}|1" in recorded}
    return {"same_rows": sorted(rows_b) == sorted(rows_a), "same_metrics": same_metrics,
            "same_predictions": len(differing) == len(predictions) and not any(differing.values()),
            "differing_predictions": differing}


def speed(work: Path, before_code: Path, data_dir: Path, task: str = "smsa") -> dict:
    work.mkdir(parents=True, exist_ok=True)
    config = build_task(work, data_dir, task)
    log = work / "bench.log"
    for stage in ("teacher", "transfer", "annotate", "distill", "export"):
        child(REPO, [stage, str(config)], log)
    out, loads = {}, {}  # the machine's 1-minute load average at the start and end of each exam
    for side, code in (("before", before_code), ("after", REPO)):
        run_dir = work / f"run-{side}"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        shutil.copytree(work / "run", run_dir, ignore=shutil.ignore_patterns("exam", "report.*"))
        if side == "before":
            _drop_new_defaults(run_dir)
        args = ["exam", str(config), "--set", f"run_dir={run_dir}"]
        load_start = round(os.getloadavg()[0], 1)
        if side == "before":
            seconds = child(code, [str(work / "before-predictions.json"), *args], log, ["-c", RECORD])
        else:
            seconds = child(code, args, log)
        loads[side] = [load_start, round(os.getloadavg()[0], 1)]
        out[side] = {"seconds": seconds, "report": json.loads((run_dir / "report.json").read_text()),
                     "stage_seconds": json.loads((run_dir / "exam" / "manifest.json").read_text())["seconds"]}
        print(f"exam ({side}): {seconds / 60:.2f} min", flush=True)
    recorded = json.loads((work / "before-predictions.json").read_text())
    predictions = json.loads((work / "run-after" / "exam" / "predictions.json").read_text())["test"]
    same = compare(out["before"]["report"], out["after"]["report"], recorded, predictions)
    after = out["after"]["report"]
    return {"test_examples": after["test"]["examples"], "exam_settings": EXAM,
            "students": [s["name"] for s in STUDENTS], "load_average_1min": loads,
            "minutes_before": round(out["before"]["seconds"] / 60, 2),
            "minutes_after": round(out["after"]["seconds"] / 60, 2),
            "exam_stage_seconds_before": out["before"]["stage_seconds"],
            "exam_stage_seconds_after": out["after"]["stage_seconds"],
            "speedup": round(out["before"]["seconds"] / out["after"]["seconds"], 2),
            "scoring_seconds_after": after.get("scoring_seconds"),
            **same, "scored": {m["label"]: m["scored"] for m in after["models"]},
            "baselines": after["baselines"], "recommendation": after["recommendation"]["reason"],
            "rows": [verdict_row(m) for m in after["models"]]}


def verdict_row(m: dict) -> dict:
    keep = ("label", "role", "runtime", "baseline", "metrics", "metrics_batched", "scored", "margin_over_majority",
            "vs_majority", "vs_teacher", "fidelity")
    return {k: m.get(k) for k in keep}


def sst2(work: Path, baseline: Path) -> dict:
    copy = work / "sst2"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(baseline, copy)
    measured = copy / "exam" / "measurements.json"
    old = json.loads(measured.read_text()) if measured.is_file() else {"models": []}  # none: nothing to compare
    seconds = child(REPO, ["exam", str(copy), "--set", f"run_dir={copy}"], work / "sst2.log")
    new = json.loads((copy / "report.json").read_text())
    rows_old = {m["label"]: m for m in old["models"] if m["metrics"] is not None}
    same = {k: rows_old[k]["metrics"] == m["metrics"] and rows_old[k].get("metrics_batched") == m.get("metrics_batched")
            for m in new["models"] if (k := m["label"]) in rows_old}
    return {"run": str(baseline), "test_examples": new["test"]["examples"], "exam_minutes": round(seconds / 60, 2),
            "same_quality_figures": (all(same.values()) and len(same) == len(rows_old)) if rows_old else None,
            "same_by_row": same,
            "baselines": new["baselines"], "intervals": new["intervals"], "fidelity": new["fidelity"],
            "recommendation": new["recommendation"]["reason"],
            "rows": [verdict_row(m) for m in new["models"] if m["metrics"] is not None]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "exam_verdict")
    parser.add_argument("--before", type=Path, default=None, help="the old code (default: a worktree of main)")
    parser.add_argument("--sst2", type=Path, default=None, help="a finished SST-2 run directory to re-examine")
    parser.add_argument("--skip-speed", action="store_true", help="keep the speed figures already in --out")
    parser.add_argument("--sst2-quick", action="store_true", help="also: the same before/after comparison on a "
                        "cheaply trained SST-2 run (the 872 test sentences), into results['sst2_quick']")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    data_dir = Path(os.environ.get("TASKDISTIL_DATA", REPO.parent / "shared" / "data")).resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if not args.skip_speed:
        before = args.before or main_worktree(args.work)
        results.update(speed(args.work, before.resolve(), data_dir), before_code=str(before))
    if args.sst2_quick:
        before = args.before or main_worktree(args.work)
        results["sst2_quick"] = speed(args.work / "sst2_quick", before.resolve(), data_dir, "sst2")
    if args.sst2:
        results["sst2"] = sst2(args.work, args.sst2.resolve())
    results["command"] = "TASKDISTIL_DATA=../shared/data nice -n 10 python " + " ".join(
        ["bench/exam_verdict.py"] + sys.argv[1:])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k not in ("sst2", "sst2_quick", "scored", "rows")},
                     indent=2))


if __name__ == "__main__":
    main()
