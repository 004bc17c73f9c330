"""Multi-process annotation on real data: ``taskdistil annotate`` with 1 process and under
``torchrun --nproc_per_node 2`` (gloo, CPU) must give the same logits; how long does each take?

The teacher is that of an existing run (``--run-dir runs/sst2``: its ``teacher/model``), adopted as is, or
else the embedded MiniLM with a randomly initialised classifier (seed 0). The transfer set is the first
``--rows`` SST-2 training sentences. Both runs share one prepared run directory (teacher and transfer stages
done here, then copied); each annotate command is timed whole (process start to exit) and by its stage
manifest (teacher load and annotation, without interpreter start and imports). Writes the ``ddp_*``
keys of bench/results/transfer.json (other keys there are left as they are).

    python bench/ddp.py --run-dir runs/sst2 [--rows 2000] [--shard-size 250]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from taskdistil.config import load_config  # noqa: E402
from taskdistil.io import read_json, write_json  # noqa: E402
from taskdistil.pipeline import STAGES, run_one  # noqa: E402
from taskdistil.teacher.annotate import LogitStore  # noqa: E402

SST2 = REPO.parent / "shared" / "data" / "sst2"


def head_tsv(src: Path, dst: Path, rows: int) -> None:
    lines = src.read_text(encoding="utf-8").splitlines()
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("\n".join(lines[: 1 + rows]) + "\n", encoding="utf-8")


def random_head_teacher(out: Path) -> tuple[Path, int]:
    """The embedded MiniLM with a fresh (seed 0) 2-label classifier, saved as a checkpoint to adopt."""
    import torch

    from taskdistil.config import EMBEDDED_TEACHER
    from taskdistil.teacher.model import load_pretrained

    torch.manual_seed(0)
    model, tokenizer = load_pretrained(EMBEDDED_TEACHER, ["0", "1"])
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out, 128


def prepare(work: Path, teacher: Path, max_length: int, rows: int, shard_size: int, batch_size: int) -> Path:
    """A run directory with the stages before ``annotate`` done; returns its config."""
    data = work / "data"
    head_tsv(SST2 / "train.tsv", data / "sst2" / "train.tsv", rows)
    for split in ("dev", "test"):
        head_tsv(SST2 / f"{split}.tsv", data / "sst2" / f"{split}.tsv", 100)
    tree = {"name": "ddp", "run_dir": str(work / "run-1"), "seed": 0,
            "data": {**{split: str(data / "sst2" / f"{split}.tsv") for split in ("train", "dev", "test")},
                     "too_long": "truncate"},
            "teacher": {"model": str(teacher), "finetuned": True, "max_length": max_length},
            "annotate": {"batch_size": batch_size, "shard_size": shard_size}}
    config = work / "config-1.yaml"
    config.write_text(yaml.safe_dump(tree), encoding="utf-8")
    for stage in STAGES[: STAGES.index("annotate")]:
        run_one(load_config(str(config)), stage)
    return config


def copy_run(config: Path, name: str) -> Path:
    tree = yaml.safe_load(config.read_text())
    tree["run_dir"] = str(shutil.copytree(tree["run_dir"], config.parent / f"run-{name}"))
    out = config.parent / f"config-{name}.yaml"
    out.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(cmd: list[str], threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    return round(time.perf_counter() - t0, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default=None, help="use this run's teacher/model (default: MiniLM, random head)")
    parser.add_argument("--rows", type=int, default=2000, help="first N SST-2 training sentences")
    parser.add_argument("--shard-size", type=int, default=250)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads-1proc", type=int, default=os.cpu_count(), help="OMP threads of the 1-process run")
    parser.add_argument("--work", default=str(REPO / "runs" / "bench" / "ddp"), help="scratch directory (cleared)")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "transfer.json"))
    args = parser.parse_args()

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if args.run_dir:
        teacher = Path(args.run_dir) / "teacher" / "model"
        source, max_length = str(teacher), read_json(teacher / "taskdistil.json")["max_length"]
    else:
        teacher, max_length = random_head_teacher(work / "teacher-src")
        source = "embedded:minilm-l6 (random classifier, seed 0)"
    one = prepare(work, teacher, max_length, args.rows, args.shard_size, args.batch_size)
    two = copy_run(one, "2")

    annotate = ["-m", "taskdistil", "annotate"]
    seconds_1 = timed([sys.executable, *annotate, str(one)], args.threads_1proc)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                "--master_port", str(free_port())]
    seconds_2 = timed([*torchrun, *annotate, str(two)], 1)

    stores = [LogitStore(work / f"run-{n}" / "annotations", verify=True) for n in ("1", "2")]
    a, b = (s[np.arange(len(s))] for s in stores)
    results = read_json(args.out) if Path(args.out).is_file() else {}
    results.update({
        "ddp_max_abs_diff": float(np.abs(a - b).max()),
        "ddp_seconds_1proc": seconds_1,
        "ddp_seconds_2proc": seconds_2,
        **{f"ddp_stage_seconds_{n}proc": read_json(work / f"run-{n}" / "annotations" / "manifest.json")["seconds"]
           for n in ("1", "2")},
        "ddp_setup": {"rows": len(a), "shard_size": args.shard_size, "batch_size": args.batch_size,
                      "teacher": source, "threads_1proc": args.threads_1proc, "threads_per_process_2proc": 1,
                      "seconds": "wall time of each `taskdistil annotate` command, process start to exit",
                      "stage_seconds": "the annotate stage alone (its manifest): teacher load and annotation",
                      "command": "python bench/ddp.py" + (f" --run-dir {args.run_dir}" if args.run_dir else "")
                      + (f" --rows {args.rows}" if args.rows != 2000 else "")},
    })
    write_json(Path(args.out), results)
    print(json.dumps({k: v for k, v in results.items() if k.startswith("ddp_")}, indent=2))


if __name__ == "__main__":
    main()
