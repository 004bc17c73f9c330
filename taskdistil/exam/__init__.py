"""The exam: quality, size and CPU latency of the teacher and every student, in one process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from taskdistil.artifact import load
from taskdistil.exam.report import write_report
from taskdistil.exam.speed import Timed, measure_latency
from taskdistil.inference import batched_logits
from taskdistil.io import dir_size_bytes, read_json
from taskdistil.tasks import classification_metrics, load_task_data

if TYPE_CHECKING:
    from taskdistil.pipeline import Run


def run_exam(run: "Run", exam_dir: Path) -> dict:
    t0 = time.perf_counter()
    config = run.config
    data = load_task_data(config)
    gold = data.label_ids("test")
    models = [("teacher", load(run.teacher_model_dir))]
    models += [(s.name, load(run.student_model_dir(s.name))) for s in config.students]

    rows, timed = [], []
    for name, predictor in models:
        encoded = predictor.encode(data.test.texts)
        # The label order of every model is the training label map's; map if it differs.
        order = [predictor.labels.index(label) for label in data.labels.labels]
        logits = batched_logits(predictor.forward, encoded, predictor.pad_id, 256)[:, order]
        evaluation = classification_metrics(logits, gold)
        rows.append({"name": name, "kind": predictor.kind, "path": str(predictor.path),
                     "metrics": evaluation.metrics,
                     "parameters": sum(p.numel() for p in predictor.model.parameters()),
                     "disk_bytes": dir_size_bytes(predictor.path)})
        timed.append(Timed(name, predictor.forward, encoded, predictor.pad_id))
    primary = evaluation.primary

    latency = {}
    for bs in config.exam.batch_sizes:
        latency[str(bs)] = measure_latency(timed, bs, config.exam.threads, config.exam.warmup,
                                           config.exam.max_batches, config.exam.max_seconds)
    teacher = rows[0]
    for row in rows:
        row["retention"] = row["metrics"][primary] / teacher["metrics"][primary]
        row["latency"] = {bs: latency[bs][row["name"]] for bs in latency}
        row["speedup"] = {bs: teacher["latency"][bs]["median_ms"] / row["latency"][bs]["median_ms"] for bs in latency}

    stage_seconds = {}
    for label, stage_dir in [("teacher", run.teacher_dir), ("annotate", run.annotate_dir)] + [
            (f"distill:{s.name}", run.student_dir(s.name)) for s in config.students]:
        manifest = read_json(stage_dir / "manifest.json")
        stage_seconds[label] = manifest.get("seconds", 0.0)
    stage_seconds["exam"] = round(time.perf_counter() - t0, 2)
    report = {"run": config.name, "primary_metric": primary, "threads": config.exam.threads,
              "batch_sizes": config.exam.batch_sizes,
              "test": {"source": config.data_path("test"), "examples": len(gold)},
              "models": rows, "stage_seconds": stage_seconds,
              "pipeline_seconds": round(sum(stage_seconds.values()), 2)}
    write_report(run.dir, report)
    return {"report": str(run.dir / "report.md"), "models": {r["name"]: r["metrics"] for r in rows}}
