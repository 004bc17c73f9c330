"""What the multi-student benches share: running the CLI in a child process, and a student's recipe name."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED_SUFFIX = re.compile(r"-s\d+$")


def cli(*args: str, threads: int, log: Path) -> float:
    """Run ``python -m taskdistil ARGS`` with ``threads`` torch threads, output appended to ``log``; its seconds.
    Fails loudly, naming the log."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    with log.open("a") as fh:
        done = subprocess.run([sys.executable, "-m", "taskdistil", *args], stdout=fh, stderr=subprocess.STDOUT,
                              env=env, check=False, cwd=REPO)
    if done.returncode:
        raise SystemExit(f"`taskdistil {' '.join(args)}` failed (rc {done.returncode}); see {log}")
    return time.perf_counter() - t0


def recipe_name(student: str) -> str:
    """A student's name without its seed suffix: bilstm-tang-s2 -> bilstm-tang."""
    return SEED_SUFFIX.sub("", student)
