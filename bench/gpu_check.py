"""The device check behind `bench/gpu_check.sh`: SST-2 teacher fine-tuning (1 epoch), annotation of the SST-2
training set plus 150,000 IMDB sentences, and one BiLSTM student, each a `taskdistil` stage run on one device;
writes each stage's time, examples per second and the models' test accuracy as JSON.

The inputs come from `.gpu/` (`bench/gpu_pack.sh`): the embedded MiniLM as fp16 safetensors, SST-2 and the IMDB
sentences, xz-compressed; they are unpacked into the work directory. On a GPU the precision is taskdistil's
default (bf16 where supported); on CPU fp32.

    bash bench/gpu_check.sh                               # the GPU check: device cuda -> bench/results/gpu.json
    bash bench/gpu_check.sh --device cpu --train 1000 --dev 300 --imdb 2000 --student-epochs 1 --threads 1
                                                          # CPU figures of the same stages, reduced sizes
                                                          # -> bench/results/gpu_cpu.json (an idle machine:
                                                          # drop --threads 1)
    bash bench/gpu_check.sh --smoke --device cpu          # tiny sizes, seconds: proves the script end to end
    python bench/gpu_check.py --unmeasured "REASON"       # gpu.json without GPU figures (and the CPU ones)

Rates: teacher and student examples/s are training examples processed (steps x batch size) per second of the
stage (tokenising, evaluation and saving included); annotation, transfer-set rows per second of the stage.
Accuracy: the saved models reloaded on CPU, on the SST-2 test split (872 sentences; smoke: its first 100).
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SMOKE = {"train": 300, "dev": 100, "test": 100, "imdb": 500}


def unpack(assets: Path, data: Path, limits: dict) -> None:
    """SST-2 splits and the IMDB sentences from ``assets`` into ``data``, cut to ``limits`` (rows; None: all)."""
    for split in ("train", "dev", "test"):
        lines = lzma.open(assets / "data" / "sst2" / f"{split}.tsv.xz", "rt", encoding="utf-8").read().splitlines()
        keep = limits.get(split)
        _write(data / "sst2" / f"{split}.tsv", lines[: 1 + keep] if keep else lines)
    lines = lzma.open(assets / "data" / "imdb150k.txt.xz", "rt", encoding="utf-8").read().splitlines()
    _write(data / "imdb.txt", lines[: limits["imdb"]] if limits.get("imdb") else lines)


def _write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_config(work: Path, teacher: Path, smoke: bool, teacher_epochs: int, student_epochs: int) -> dict:
    """The check's run: the teacher of examples/sst2.yaml (1 epoch) and the BiLSTM of sst2-transfer.yaml (seed 1;
    smoke: a 16-unit one)."""
    return {
        "name": "gpu-check", "run_dir": str(work / "run"), "seed": 1,
        "data": {"dir": str(work / "data"), "train": "sst2/train.tsv", "dev": "sst2/dev.tsv", "test": "sst2/test.tsv"},
        "teacher": {"model": str(teacher.resolve()), "max_length": 64 if smoke else 128,
                    "train": {"epochs": teacher_epochs, "batch_size": 16 if smoke else 32, "learning_rate": 5e-5,
                              "optimizer": "adamw", "weight_decay": 0.01, "scheduler": "linear",
                              "warmup_ratio": 0.06, "evals_per_epoch": 2}},
        # heldout 0: every unlabeled text is annotated, so the sizes stay those of gpu_cpu.json (no fidelity set)
        "transfer": {"unlabeled": [{"path": "imdb.txt", "format": "txt", "clean_html": False, "sample": "first"}],
                     "heldout": 0.0},
        "annotate": {"batch_size": 256, "shard_size": 8192},
        "students": [{"name": "bilstm", "kind": "bilstm", "tokenizer": "wordpiece", "embeddings": "svd",
                      "embedding_mode": "tuned", **({"embedding_dim": 16, "hidden_size": 16, "fc_dim": 16} if smoke
                                                   else {"embedding_dim": 300, "hidden_size": 150, "fc_dim": 200}),
                      "pooling": "last", "loss": {"soft": "mse", "hard_weight": 0.0},
                      "train": {"epochs": student_epochs, "batch_size": 50, "learning_rate": 1e-3, "optimizer": "adam",
                                "scheduler": "cosine", "evals_per_epoch": 2}}],
    }


STAGES = ("teacher", "transfer", "annotate", "distill")
# one child process runs the stages in turn (their times come from the stage manifests)
CHILD = ("import sys\nfrom taskdistil.cli import main\nconfig, device = sys.argv[1:]\n"
         "for stage in {stages}:\n    rc = main([stage, config, '--device', device])\n"
         "    if rc:\n        sys.exit(f'taskdistil {{stage}} failed (rc {{rc}})')\n").format(stages=STAGES)


def run_stages(config_path: Path, device: str, log: Path, threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("TASKDISTIL_DATA", None)
    with log.open("a") as fh:
        done = subprocess.run([sys.executable, "-c", CHILD, str(config_path), device], stdout=fh,
                              stderr=subprocess.STDOUT, env=env, cwd=REPO, check=False)
    if done.returncode:
        raise SystemExit(f"the stages failed (rc {done.returncode}); see {log}")


def test_accuracy(model_dir: Path, test_tsv: Path) -> float:
    """Accuracy of the saved model, loaded on CPU, on the test split."""
    import taskdistil

    rows = [line.split("\t") for line in test_tsv.read_text(encoding="utf-8").splitlines()[1:]]
    predicted = taskdistil.load(model_dir).predict([text for text, _ in rows], batch_size=128)
    return sum(p == label for p, (_, label) in zip(predicted, rows)) / len(rows)


def figures(work: Path, device: str, log: Path) -> dict:
    run = work / "run"
    manifest = {name: json.loads((run / path / "manifest.json").read_text())
                for name, path in (("teacher", "teacher"), ("transfer", "transfer"), ("annotate", "annotations"),
                                   ("student", "students/bilstm"))}
    config = yaml.safe_load((work / "config.yaml").read_text())
    teacher_train, student_train = config["teacher"]["train"], config["students"][0]["train"]
    t, a, s = manifest["teacher"], manifest["annotate"], manifest["student"]
    placements = [line.strip() for line in log.read_text().splitlines() if "] on " in line][-3:]
    return {
        "device": device, "placements": placements,
        "sizes": {"train": _rows(work / "data" / "sst2" / "train.tsv"),
                  "dev": _rows(work / "data" / "sst2" / "dev.tsv"),
                  "transfer": manifest["transfer"]["outputs"]["count"],
                  "by_origin": manifest["transfer"]["outputs"]["by_origin"],
                  "test": _rows(work / "data" / "sst2" / "test.tsv")},
        "teacher_seconds": t["seconds"], "teacher_steps": t["outputs"]["steps"],
        "teacher_examples_per_s": round(t["outputs"]["steps"] * teacher_train["batch_size"] / t["seconds"], 1),
        "teacher_dev": t["outputs"]["dev"], "teacher_acc": test_accuracy(run / "teacher" / "model",
                                                                         work / "data" / "sst2" / "test.tsv"),
        "annotate_seconds": a["seconds"], "annotate_examples": a["outputs"]["count"],
        "annotate_examples_per_s": round(a["outputs"]["count"] / a["seconds"], 1),
        "student_seconds": s["seconds"], "student_steps": s["outputs"]["steps"],
        "student_examples_per_s": round(s["outputs"]["steps"] * student_train["batch_size"] / s["seconds"], 1),
        "student_dev": s["outputs"]["dev"], "student_acc": test_accuracy(run / "students" / "bilstm" / "model",
                                                                         work / "data" / "sst2" / "test.tsv"),
        "settings": {"teacher_epochs": teacher_train["epochs"], "student_epochs": student_train["epochs"],
                     "seed": config["seed"]},
    }


def _rows(tsv: Path) -> int:
    return len(tsv.read_text(encoding="utf-8").splitlines()) - 1


def machine(device: str, threads: int) -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "cpu_threads": threads,
            "cpu_count": os.cpu_count(), "load_average_1_5_15_min": [round(x, 1) for x in os.getloadavg()]}
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def with_cpu_reference(result: dict, reference: Path) -> dict:
    """``result`` plus the CPU figures of the same stages (``gpu_cpu.json``) and the annotation speed-up."""
    if not reference.is_file():
        return {**result, "cpu": None, "cpu_annotate_examples_per_s": None}
    cpu = json.loads(reference.read_text())
    out = {**result, "cpu": cpu, "cpu_annotate_examples_per_s": cpu["annotate_examples_per_s"]}
    if result.get("annotate_examples_per_s"):
        out["annotate_speedup_vs_cpu"] = round(result["annotate_examples_per_s"] / cpu["annotate_examples_per_s"], 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="taskdistil --device for every stage (default: cuda)")
    parser.add_argument("--assets", default=str(REPO / ".gpu"), help="what bench/gpu_pack.sh packed")
    parser.add_argument("--teacher", default=None, help="teacher checkpoint (default: ASSETS/teacher)")
    parser.add_argument("--work", default="/tmp/taskdistil-gpu-check", help="unpacked data and the run (cleared)")
    parser.add_argument("--out", default=None, help="result JSON (default: bench/results/gpu.json, or gpu_cpu.json "
                        "with --device cpu, or WORK/smoke.json with --smoke)")
    parser.add_argument("--smoke", action="store_true", help=f"tiny sizes {SMOKE}, 1 epoch each: seconds")
    parser.add_argument("--train", type=int, default=None, help="SST-2 training rows kept (default: all 60,614)")
    parser.add_argument("--dev", type=int, default=None, help="SST-2 dev rows kept (default: all 6,735)")
    parser.add_argument("--imdb", type=int, default=None, help="IMDB sentences kept (default: all 150,000)")
    parser.add_argument("--teacher-epochs", type=int, default=1)
    parser.add_argument("--student-epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (CPU)")
    parser.add_argument("--unmeasured", metavar="REASON", default=None,
                        help="write bench/results/gpu.json as {measured: false, reason} plus the CPU figures")
    args = parser.parse_args()
    if args.unmeasured:
        result = with_cpu_reference({"measured": False, "reason": args.unmeasured}, RESULTS / "gpu_cpu.json")
        (RESULTS / "gpu.json").write_text(json.dumps(result, indent=2) + "\n")
        return
    work, assets = Path(args.work), Path(args.assets)
    limits = dict(SMOKE) if args.smoke else {"train": args.train, "dev": args.dev, "imdb": args.imdb}
    epochs = (1, 1) if args.smoke else (args.teacher_epochs, args.student_epochs)
    shutil.rmtree(work, ignore_errors=True)
    unpack(assets, work / "data", limits)
    config = run_config(work, Path(args.teacher) if args.teacher else assets / "teacher", args.smoke, *epochs)
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    log = work / "log.txt"
    print(f"device check on {args.device}: log {log}", flush=True)
    t0 = time.perf_counter()
    run_stages(work / "config.yaml", args.device, log, args.threads)
    result = {"measured": True, "smoke": args.smoke, **figures(work, args.device, log),
              "machine": machine(args.device, args.threads), "wall_seconds": round(time.perf_counter() - t0, 1),
              "command": "bash bench/gpu_check.sh " + " ".join(sys.argv[1:])}
    default = (work / "smoke.json" if args.smoke else
               RESULTS / ("gpu_cpu.json" if args.device == "cpu" else "gpu.json"))
    if args.device != "cpu" and not args.smoke:
        result = with_cpu_reference(result, RESULTS / "gpu_cpu.json")
    out = Path(args.out) if args.out else default
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("cpu", "placements")}, indent=1))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
