"""Real interruptions: ``kill -9`` of a running pipeline, then a rerun that resumes.

The killed processes are real ``python -m taskdistil.cli`` children; nothing in the
package is mocked (the annotation test's child pauses itself from a watcher thread once a shard
is listed, so the kill lands between shards without changing what the code does).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from taskdistil.cli import main
from taskdistil.io import read_json, sha256_file
from taskdistil.teacher.annotate import LogitStore

from conftest import tiny_config

TIMEOUT = 120



def edit_config(path: Path, **sections) -> Path:
    tree = yaml.safe_load(path.read_text())
    tree.update(sections)
    path.write_text(yaml.safe_dump(tree))
    return path


def train_rows(data_dir: Path) -> int:
    return len((data_dir / "sst2" / "train.tsv").read_text().splitlines()) - 1


class Child:
    """A ``python ARGS`` child process whose output goes to files (no pipe can fill and block it)."""

    def __init__(self, args: list[str], cwd: Path, name: str):
        self.out_path, self.err_path = cwd / f"{name}.stdout", cwd / f"{name}.stderr"
        with self.out_path.open("w") as out, self.err_path.open("w") as err:
            self.proc = subprocess.Popen([sys.executable, *args], cwd=cwd, stdout=out, stderr=err,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def output(self) -> str:
        return self.out_path.read_text() + self.err_path.read_text()

    def kill_when(self, ready, timeout: float = TIMEOUT) -> None:
        """Poll until ``ready()``, then SIGKILL. Fails if the process ends first; never leaves it running."""
        try:
            deadline = time.monotonic() + timeout
            while not ready():
                if self.proc.poll() is not None:
                    pytest.fail(f"process ended (rc {self.proc.returncode}) before it could be killed:\n"
                                + self.output())
                if time.monotonic() > deadline:
                    pytest.fail("timed out waiting for the moment to kill:\n" + self.output())
                time.sleep(0.02)
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
            assert self.proc.returncode == -signal.SIGKILL
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=30)


def finish(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def small_data(root: Path, src: Path, rows: dict[str, int]) -> Path:
    """The first ``rows[split]`` rows of each split of ``src`` (an ``sst2_small``-style directory)."""
    for split, n in rows.items():
        lines = (src / "sst2" / f"{split}.tsv").read_text().splitlines()
        (root / "sst2").mkdir(parents=True, exist_ok=True)
        (root / "sst2" / f"{split}.tsv").write_text("\n".join(lines[: n + 1]) + "\n")
    return root


def test_killed_teacher_training_resumes_without_losing_or_repeating_steps(tmp_path, sst2_small, tiny_teacher):
    # 96 rows / batch 16 = 6 batches per epoch, 36 steps: a few seconds of training,
    # with a checkpoint every 0.2 s.
    data = small_data(tmp_path / "data", sst2_small, {"train": 96, "dev": 40, "test": 40})
    epochs, batch_size = 6, 16
    config = edit_config(tiny_config(tmp_path, data, tiny_teacher), teacher={
        "model": str(tiny_teacher), "max_length": 64,
        "train": {"epochs": epochs, "batch_size": batch_size, "learning_rate": 1e-3, "checkpoint_seconds": 0.2}})
    run_dir = tmp_path / "run"
    work = run_dir / "teacher" / "work"
    args = ["-m", "taskdistil.cli", "run", str(config)]

    Child(args, tmp_path, "first").kill_when(lambda: (work / "checkpoint.safetensors").is_file())
    manifest = read_json(run_dir / "teacher" / "manifest.json")
    assert manifest["status"] == "running"  # the kill landed mid-training
    assert not (work / "fit.json").exists()

    done = finish(args, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr
    found = re.search(r"resuming from step (\d+)", done.stdout + done.stderr)
    assert found, done.stdout
    n_batches = -(-train_rows(data) // batch_size)
    assert 1 <= int(found.group(1)) < epochs * n_batches  # restarted from the checkpoint, not from 0

    manifest = read_json(run_dir / "teacher" / "manifest.json")
    assert manifest["status"] == "complete"
    assert manifest["attempts"] == 2
    fit = read_json(work / "fit.json")
    assert fit["steps"] == epochs * n_batches
    assert manifest["outputs"]["steps"] == epochs * n_batches
    assert [h["epoch"] for h in fit["history"]] == [float(e) for e in range(1, epochs + 1)]
    assert not (work / "checkpoint.safetensors").exists()
    assert (run_dir / "report.json").is_file()
    assert all(read_json(run_dir / d / "manifest.json")["attempts"] == 1
               for d in ("annotations", "students/bilstm", "exam"))


# Runs the CLI with a watcher thread that pauses the whole process (SIGSTOP) as soon as
# shards.json lists a shard, so the test's SIGKILL lands between shards on any machine.
PAUSE_AFTER_FIRST_SHARD = """
import json, os, signal, sys, threading, time
from pathlib import Path

index = Path(sys.argv[1])

def watch():
    while True:
        try:
            if json.loads(index.read_text())["shards"]:
                os.kill(os.getpid(), signal.SIGSTOP)
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.001)

threading.Thread(target=watch, daemon=True).start()
from taskdistil.cli import main
sys.exit(main(sys.argv[2:]))
"""


def test_killed_annotation_resumes_at_shard_granularity(tmp_path, sst2_small, tiny_teacher, capsys):
    data = small_data(tmp_path / "data", sst2_small, {"train": 96, "dev": 40, "test": 40})
    config = tiny_config(tmp_path, data, tiny_teacher, annotate={"batch_size": 4, "shard_size": 4})
    run_dir = tmp_path / "run"
    out = run_dir / "annotations"
    assert main(["teacher", str(config)]) == 0
    assert main(["transfer", str(config)]) == 0
    n = train_rows(data)
    n_shards = -(-n // 4)

    def shards_listed() -> int:
        try:
            return len(read_json(out / "shards.json")["shards"])
        except (OSError, ValueError):
            return 0

    wrapper = tmp_path / "pause_annotate.py"
    wrapper.write_text(PAUSE_AFTER_FIRST_SHARD)
    Child([str(wrapper), str(out / "shards.json"), "annotate", str(config)], tmp_path, "first").kill_when(
        lambda: shards_listed() >= 1)
    listed = shards_listed()
    assert 1 <= listed < n_shards
    assert read_json(out / "manifest.json")["status"] == "running"
    first = out / "logits-00000.npy"
    first_mtime = first.stat().st_mtime_ns
    first_bytes = first.read_bytes()

    capsys.readouterr()
    assert main(["annotate", str(config)]) == 0
    assert "[annotate] resuming" in capsys.readouterr().err
    assert first.stat().st_mtime_ns == first_mtime  # the finished shard was not recomputed
    assert first.read_bytes() == first_bytes
    manifest = read_json(out / "manifest.json")
    assert manifest["status"] == "complete" and manifest["attempts"] == 2
    assert sorted(p.name for p in out.glob("logits-*.npy")) == [f"logits-{s:05d}.npy" for s in range(n_shards)]
    store = LogitStore(out, verify=True)
    assert len(store) == n

    # The resumed logits are the teacher's logits for the transfer set, in order.
    from taskdistil.config import load_config
    from taskdistil.tasks import load_task_data
    from taskdistil.teacher.model import Teacher

    teacher = Teacher.load(run_dir / "teacher" / "model")
    texts = load_task_data(load_config(config)).train.texts
    expected = teacher.logits(teacher.encode(texts), batch_size=4)
    np.testing.assert_allclose(store[np.arange(n)], expected, atol=1e-4)


def test_damaged_annotations_are_repaired_on_rerun(tmp_path, sst2_small, tiny_teacher, capsys):
    config = tiny_config(tmp_path, sst2_small, tiny_teacher, annotate={"batch_size": 64, "shard_size": 64})
    out = tmp_path / "run" / "annotations"
    assert main(["teacher", str(config)]) == 0
    assert main(["transfer", str(config)]) == 0
    assert main(["annotate", str(config)]) == 0
    before = read_json(out / "manifest.json")
    index = read_json(out / "shards.json")["shards"]
    assert len(index) == 5
    bad = out / "logits-00002.npy"
    original = np.load(bad)
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("logits-*.npy")}

    # Corrupt the data (not the header): the file still loads, only the checksum tells.
    with bad.open("r+b") as fh:
        fh.seek(-16, os.SEEK_END)
        fh.write(b"\x7f" * 16)
    assert sha256_file(bad) != index[bad.name]
    capsys.readouterr()
    assert main(["annotate", str(config)]) == 0
    err = capsys.readouterr().err
    assert "logits-00002.npy" in err and "up to date" not in err, err
    np.testing.assert_allclose(np.load(bad), original, atol=1e-5)
    for name, mtime in mtimes.items():  # only the damaged shard was recomputed
        if name != bad.name:
            assert (out / name).stat().st_mtime_ns == mtime, name
    after = read_json(out / "manifest.json")
    assert after["status"] == "complete" and after["key"] == before["key"]
    LogitStore(out, verify=True)

    # A missing shard is recomputed the same way.
    (out / "logits-00004.npy").unlink()
    assert main(["annotate", str(config)]) == 0
    assert (out / "logits-00004.npy").is_file()
    assert len(LogitStore(out, verify=True)) == 300

    # Downstream sees repaired annotations (distill verifies checksums).
    assert main(["distill", str(config)]) == 0
