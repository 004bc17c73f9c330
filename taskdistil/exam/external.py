"""The exam's row for an external teacher: a teacher without a runtime (``taskdistil.teacher.external``).

Its quality comes from its outputs on the test texts (the outputs file's rows when it covers every test text,
else no quality; a command labels them into ``exam/external-teacher``, resumable); it has no parameters, disk size
or memory, and no latency unless ``teacher.latency_ms`` gives one (then it stands as the batch-1 median and p95 at
every thread count, marked ``"given": true``), so students are compared with it as with any teacher.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from taskdistil.io import read_json
from taskdistil.tasks import classification_metrics

RUNTIME = "external"


def external_teacher_row(run, exam_dir: Path, data, threads: list[int], log) -> tuple[dict, np.ndarray | None]:
    """(The teacher's row of ``run`` (a ``pipeline.Run``) on the test split of ``data``, its predicted class per
    test example in the split's label order, or None without test outputs); ``log`` takes progress lines."""
    from taskdistil.teacher.external import teacher_test_outputs

    config = run.config
    meta = read_json(run.teacher_model_dir / "taskdistil.json")
    labels = meta["labels"]
    outputs, how = teacher_test_outputs(config, labels, data.test.texts, exam_dir / "external-teacher",
                                        data.test.where)
    log(f"teacher (external): {how}")
    metrics = predictions = None
    if outputs is not None:
        order = [labels.index(label) for label in data.labels.labels]
        metrics = classification_metrics(outputs[:, order], data.label_ids("test")).metrics
        predictions = np.asarray(outputs[:, order]).argmax(-1)
    latency = {}
    if config.teacher.latency_ms is not None:
        ms = config.teacher.latency_ms
        latency = {str(t): {"1": {"batch_size": 1, "threads": t, "p50_ms": ms, "p95_ms": ms, "given": True}}
                   for t in threads}
    return {"name": "teacher", "role": "teacher", "kind": "external", "runtime": RUNTIME, "scored": "its outputs",
            "baseline": None,
            "label": f"teacher ({RUNTIME})", "path": meta["origin"], "metrics": metrics, "metrics_batched": None,
            "parameters": None, "parameters_without_embeddings": None, "disk_bytes": None,
            "parity_max_abs_diff": None, "latency": latency, "memory": None}, predictions
