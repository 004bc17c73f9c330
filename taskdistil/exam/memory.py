"""Peak resident memory of a fresh process that loads one model and predicts one batch.

The parent writes the batch's texts to a file and starts ``python -m taskdistil.memory_probe``;
the child reports its peak RSS (VmHWM) twice: after importing taskdistil (the baseline:
Python, numpy, tokenizers) and after loading and predicting. A PyTorch model pays for
torch (and a teacher for transformers); an ONNX model only for onnxruntime, as deployed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from taskdistil.errors import TaskDistilError


def measure_peak_rss(model_dir: Path, runtime: str, texts: Sequence[str], threads: int = 1,
                     timeout: float = 600) -> dict:
    """{"peak_rss_bytes", "baseline_rss_bytes", "batch_size"} measured in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        batch_file = Path(tmp) / "batch.json"
        batch_file.write_text(json.dumps(list(texts)), encoding="utf-8")
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        cmd = [sys.executable, "-m", "taskdistil.memory_probe", str(model_dir), str(batch_file),
               "--runtime", runtime, "--threads", str(threads)]
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if done.returncode != 0:
        raise TaskDistilError(f"{model_dir}: memory measurement ({runtime}) failed: {done.stderr.strip()[-500:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["batch_size"] = len(texts)
    return result
