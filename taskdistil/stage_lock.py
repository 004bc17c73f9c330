"""One process per stage: an exclusive advisory lock beside a stage's directory.

Two processes working on one stage (two `taskdistil annotate` of one run, a bench started while a stage still
runs) would write the same shards and checkpoints and race on the manifest. The lock is a kernel ``flock`` on
``.<stage dir name>.lock`` next to the stage directory (the directory itself may be cleared): the kernel drops it
when its process ends, however it ends (``kill -9`` included), so a stale lock file never blocks a rerun.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from taskdistil.errors import StageError


def lock_path(stage_dir: Path) -> Path:
    return stage_dir.parent / f".{stage_dir.name}.lock"


@contextmanager
def stage_lock(stage_dir: Path) -> Iterator[None]:
    """Hold the stage's lock for the ``with`` block; StageError naming the holder if another process has it."""
    path = lock_path(stage_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise StageError(f"{stage_dir}: another taskdistil process (pid {holder}) is running this stage; "
                             f"wait for it to finish or stop it, then rerun") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
