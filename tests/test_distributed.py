"""Multi-process runs: ``torchrun --nproc_per_node 2 -m taskdistil annotate|distill`` (gloo, two CPU processes).

Annotation shards the transfer set by rank and equals a 1-process run; a resumed run, of either world size,
recomputes only missing shards; a 2-process distillation trains data-parallel (DDP) and writes its result once.
One tiny run (teacher and transfer set, in this process) is shared; each test works on a copy of it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from taskdistil.cli import main
from taskdistil.config import TrainConfig
from taskdistil.errors import StageError
from taskdistil.io import read_json, write_json
from taskdistil.teacher.annotate import SHARDS, LogitStore
from taskdistil.train import loop
from taskdistil.train.batching import LengthBuckets

from conftest import tiny_config

TIMEOUT = 180
SHARD_NAMES = ["logits-00000.npy", "logits-00001.npy", "logits-00002.npy"]  # 300 rows in shards of 128


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, sst2_small, tiny_teacher) -> Path:
    """The run directory of a tiny run with its teacher and transfer set done; treat as read-only."""
    root = tmp_path_factory.mktemp("ddp_base")
    config = tiny_config(root, sst2_small, tiny_teacher)
    assert main(["teacher", str(config)]) == 0
    assert main(["transfer", str(config)]) == 0
    return root / "run"


def copy_run(prepared: Path, where: Path) -> Path:
    """A config whose run directory is a copy of ``prepared``."""
    where.mkdir(parents=True, exist_ok=True)
    config = where / "config.yaml"
    tree = yaml.safe_load((prepared / "config.yaml").read_text())
    tree["run_dir"] = str(shutil.copytree(prepared, where / "run"))
    config.write_text(yaml.safe_dump(tree))
    return config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(*args: str, cwd: Path) -> str:
    """``torchrun --nproc_per_node 2 -m taskdistil ARGS``; returns its output (stdout + stderr)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), "-m", "taskdistil", *args]
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT,
                          env={**env, "PYTHONUNBUFFERED": "1"})
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def logits(run_dir: Path) -> np.ndarray:
    store = LogitStore(run_dir / "annotations", verify=True)
    return store[np.arange(len(store))]


def mtimes(ann: Path) -> dict[str, int]:
    return {name: (ann / name).stat().st_mtime_ns for name in SHARD_NAMES}


@pytest.fixture(scope="module")
def annotated(prepared, tmp_path_factory) -> tuple[Path, Path, str]:
    """(config, run dir, output) of a 2-process annotation of a copy of ``prepared``; treat as read-only."""
    root = tmp_path_factory.mktemp("ddp_annotated")
    config = copy_run(prepared, root)
    return config, root / "run", torchrun("annotate", str(config), cwd=root)


def test_two_process_annotation_equals_one_process(annotated, prepared, tmp_path):
    _, run_dir, output = annotated
    one = copy_run(prepared, tmp_path / "one")
    assert main(["annotate", str(one)]) == 0
    expected, got = logits(tmp_path / "one" / "run"), logits(run_dir)
    assert got.shape == expected.shape == (300, 2)
    assert float(np.abs(got - expected).max()) <= 1e-5
    ann = run_dir / "annotations"
    assert sorted(read_json(ann / SHARDS)["shards"]) == SHARD_NAMES
    assert not list(ann.glob("shards.rank-*.json"))  # merged into shards.json and removed
    assert read_json(ann / "manifest.json")["status"] == "complete"
    assert output.count("[annotate] running") == 1 and output.count("[annotate] done") == 1  # rank 0 logs alone
    import torch.distributed

    assert not torch.distributed.is_initialized()  # the 1-process run in this process joined no process group


def test_resumed_two_process_annotation_recomputes_only_the_missing_shard(annotated, tmp_path):
    config = copy_run(annotated[1], tmp_path)  # the annotated run, copied
    ann = tmp_path / "run" / "annotations"
    before, expected = mtimes(ann), logits(tmp_path / "run")
    (ann / SHARD_NAMES[1]).unlink()
    output = torchrun("annotate", str(config), cwd=tmp_path)
    assert "stored outputs are damaged" in output
    after = mtimes(ann)
    assert [after[n] == before[n] for n in SHARD_NAMES] == [True, False, True]  # shard 1 (rank 1's) alone
    np.testing.assert_array_equal(logits(tmp_path / "run"), expected)


def test_one_process_resumes_an_interrupted_two_process_annotation(annotated, tmp_path, monkeypatch):
    """The ranks' records of a killed 2-process run (no shards.json yet) are merged: no shard is recomputed."""
    config = copy_run(annotated[1], tmp_path)
    ann = tmp_path / "run" / "annotations"
    before, expected = mtimes(ann), logits(tmp_path / "run")
    index = read_json(ann / SHARDS)
    for rank in (0, 1):
        write_json(ann / f"shards.rank-{rank}.json",
                   {**index, "shards": {n: c for n, c in index["shards"].items() if int(n[7:12]) % 2 == rank}})
    (ann / SHARDS).unlink()
    manifest = read_json(ann / "manifest.json")
    write_json(ann / "manifest.json", {**manifest, "status": "running"})
    assert main(["annotate", str(config)]) == 0
    assert mtimes(ann) == before
    assert not list(ann.glob("shards.rank-*.json"))
    np.testing.assert_array_equal(logits(tmp_path / "run"), expected)


@pytest.mark.parametrize("optimizer", ["adam", "lazyadam"])  # lazyadam: the table's gradients are sparse
def test_two_process_distillation_trains_data_parallel(annotated, tmp_path, optimizer):
    config = copy_run(annotated[1], tmp_path)
    tree = yaml.safe_load(config.read_text())
    tree["students"][0]["train"]["optimizer"] = optimizer
    config.write_text(yaml.safe_dump(tree))
    output = torchrun("distill", str(config), cwd=tmp_path)
    assert output.count("[distill:bilstm] running") == 1
    assert "data-parallel (DDP) over 2 processes: 5 of the 10 batches per epoch each" in output
    assert "DDP: weights identical on all 2 processes" in output
    stage = tmp_path / "run" / "students" / "bilstm"
    fit = json.loads((stage / "work" / "fit.json").read_text())
    assert fit["steps"] == 2 * 5  # 2 epochs of 5 steps per rank (300 rows, batches of 32)
    manifest = read_json(stage / "manifest.json")
    assert manifest["status"] == "complete" and 0.0 <= manifest["outputs"]["dev"]["accuracy"] <= 1.0
    assert main(["predict", str(stage / "model"), "a fine film"]) == 0


def test_training_checkpoint_resumes_only_with_the_world_size_that_wrote_it(tmp_path, monkeypatch):
    import torch

    model = torch.nn.Linear(2, 2)
    optimizer = loop.build_optimizer(model, TrainConfig())
    monkeypatch.setenv("WORLD_SIZE", "2")  # as rank 0 of a 2-process run writes it (no collective involved)
    loop._save(tmp_path / loop.CHECKPOINT, model, optimizer, loop._State(global_step=3))
    monkeypatch.delenv("WORLD_SIZE")
    with pytest.raises(StageError, match="checkpoint of a 2-process run, resumed with 1"):
        loop.fit(model, lambda idx: model(torch.zeros(len(idx), 2)).sum(), LengthBuckets([1] * 8, 4),
                 lambda: loop.Evaluation({"acc": 0.0}, "acc"), TrainConfig(), tmp_path)
