"""The exam: quality, size, memory and CPU speed of the teacher and every student, in every runtime.

Each model is examined from its exported directory (PyTorch, ONNX fp32, ONNX int8), with
a BERT-base-sized reference encoder timed on the same inputs. All timings come from one
process, interleaved, so the ratios between models are what the report leads with.
Quality is scored as ``taskdistil.exam.scoring`` says (fp32 in length-bucketed batches, int8 alone and batched)
and judged against no-skill baselines with 95% intervals (``baselines``, ``verdict``, ``bootstrap``); fidelity to
the teacher is measured on unlabeled texts (``fidelity``).
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from taskdistil.artifact import ONNX_FILES, load
from taskdistil.exam.baselines import MAJORITY_NAME, NO_TEACHER, trained_without_teacher
from taskdistil.exam.bootstrap import SEED as BOOTSTRAP_SEED
from taskdistil.exam.fidelity import NO_SET, load_fidelity_set
from taskdistil.exam.gpu import device_rows
from taskdistil.exam.memory import measure_peak_rss
from taskdistil.exam.reference import build_reference
from taskdistil.exam.scoring import how_scored, score
from taskdistil.exam.speed import Timed, measure_speed
from taskdistil.exam.verdict import add_fidelity, add_verdicts
from taskdistil.export.package import EXPORT_META, runtime_size_bytes
from taskdistil.export.runtime import OnnxForward
from taskdistil.io import read_json, sha256_json, write_json
from taskdistil.progress import log
from taskdistil.student_key import student_settings
from taskdistil.tasks import task_kind
from taskdistil.tasks.classification import one_hot_logits

if TYPE_CHECKING:
    from taskdistil.run_dir import Run

REFERENCE_NAME = "bert-base-reference"
NO_FIDELITY_FOR_KIND = "fidelity (agreement with the teacher on held-out texts) is measured for classification tasks"
PREDICTIONS = "predictions.json"  # every scored row's predicted label ids (test set, fidelity set)


def _log(message: str) -> None:
    log(f"[exam] {message}")


def count_parameters(model) -> tuple[int, int]:
    """(all parameters, parameters outside embedding tables)."""
    total = sum(p.numel() for p in model.parameters())
    embedding = sum(p.numel() for name, p in model.named_parameters() if "embedding" in name.lower())
    return total, total - embedding


def _make_forward(predictor, model_dir: Path, runtime: str):
    if runtime == "torch":
        return lambda threads: predictor.forward  # torch threads are set around each timing
    return lambda threads: OnnxForward(model_dir / ONNX_FILES[runtime], threads)


def _single_threaded(model_dir: Path, runtime: str):
    """A maker of one-thread predictors of an ONNX runtime (the exam's side-by-side alone pass), else None."""
    return None if runtime == "torch" else (lambda: load(model_dir, runtime, threads=1))


def _examinees(run: "Run", exam_dir: Path) -> list[tuple[str, str, Path]]:
    config = run.config
    external = config.teacher.external  # no runtime: its row comes from its outputs (exam.external)
    out = [] if external else [("teacher", "teacher", run.export_dir("teacher"))]
    out += [(s.name, "student", run.export_dir(s.name)) for s in config.students]
    if config.exam.reference == "bert-base":
        teacher_dir = run.teacher_model_dir if external else run.export_dir("teacher")  # tokenizer, max length
        teacher_labels = read_json(teacher_dir / ("taskdistil.json" if external else EXPORT_META))["labels"]
        out.append((REFERENCE_NAME, "reference", build_reference(teacher_dir, exam_dir / "reference", teacher_labels)))
    return out


def _quality_groups(run: "Run") -> dict[str, list[str]]:
    """Students trained with the same recipe (all settings but name and seed) form one group."""
    groups: dict[str, list[str]] = {}
    for s in run.config.students:
        groups.setdefault(sha256_json(student_settings(s, exclude=("name", "seed"))), []).append(s.name)
    return {name: members for members in groups.values() for name in members}


def run_exam(run: "Run", exam_dir: Path) -> dict:
    t0 = time.perf_counter()
    config, ex = run.config, run.config.exam
    kind = task_kind(config.data.task)
    data = kind.load(config)
    texts = data.inputs("test")
    gold = data.gold("test")
    labels = data.labels.labels
    # baselines and intervals for every task kind (its per-example counts); predictions and fidelity: one class
    # per example (classification)
    per_example = isinstance(gold, np.ndarray) and gold.ndim == 1
    baseline = kind.majority(data)
    fidelity = load_fidelity_set(run) if per_example else None
    stats: dict[str, np.ndarray] = {}
    no_teacher = {s.name for s in config.students if trained_without_teacher(s)}
    rows, timed, primary = [], [], None
    predictions: dict[str, np.ndarray] = {}
    fidelity_predictions: dict[str, np.ndarray] = {}
    torch.set_num_threads(max(ex.threads))  # the quality pass uses every core the exam may use
    scoring_seconds = 0.0
    for name, role, model_dir in _examinees(run, exam_dir):
        torch_predictor = load(model_dir)
        parameters, without_embeddings = count_parameters(torch_predictor.model)
        export_meta = read_json(model_dir / EXPORT_META) if (model_dir / EXPORT_META).is_file() else {}
        for runtime in (ex.runtimes if role != "reference" else ["torch"]):
            predictor = torch_predictor if runtime == "torch" else load(model_dir, runtime, threads=max(ex.threads))
            encoded = predictor.encode(texts)
            label = f"{name} ({runtime})"
            metrics = batched = scored = None
            if role != "reference":
                _log(f"{label}: quality on {len(texts)} test examples "
                     f"({how_scored(runtime, ex.quality_batch_size, max(ex.threads))})"
                     + (f", fidelity on {len(fidelity.texts)} texts" if fidelity else ""))
                t_score = time.perf_counter()
                scores = score(predictor, runtime, encoded, ex.quality_batch_size, labels,
                               _single_threaded(model_dir, runtime), max(ex.threads))
                evaluation = kind.evaluate(scores.logits, gold, data.labels)
                metrics, primary, scored = evaluation.metrics, evaluation.primary, scores.scored
                if scores.logits_batched is not None:
                    batched = kind.evaluate(scores.logits_batched, gold, data.labels).metrics
                stats[label] = kind.example_statistics(scores.logits, gold, data.labels)
                if per_example:
                    predictions[label] = scores.predictions
                if fidelity:
                    fidelity_predictions[label] = score(
                        predictor, runtime, predictor.encode(fidelity.texts), ex.quality_batch_size, labels,
                        _single_threaded(model_dir, runtime), max(ex.threads)).predictions
                scoring_seconds += time.perf_counter() - t_score
            else:
                _log(f"{label}: encoding {len(texts)} test examples")
            rows.append({"name": name, "role": role, "kind": predictor.kind, "runtime": runtime, "label": label,
                         "path": str(model_dir), "metrics": metrics, "metrics_batched": batched, "scored": scored,
                         "baseline": NO_TEACHER if name in no_teacher else None,
                         "parameters": parameters,
                         "parameters_without_embeddings": without_embeddings,
                         "disk_bytes": runtime_size_bytes(model_dir, runtime),
                         "parity_max_abs_diff": export_meta.get("parity", {}).get(
                             {"onnx": "onnx_max_abs_diff", "onnx-int8": "onnx_int8_max_abs_diff"}.get(runtime, ""))})
            timed.append(Timed(label, _make_forward(predictor, model_dir, runtime), encoded, predictor.pad_id,
                               ex.reference_batch_sizes if role == "reference" else None))
        del torch_predictor

    if config.teacher.external:  # no runtime: its row (and test predictions) come from its outputs
        from taskdistil.exam.external import external_teacher_row

        external_row, external_predictions = external_teacher_row(run, exam_dir, data, ex.threads, _log)
        rows.insert(0, external_row)
        if per_example and external_predictions is not None:
            predictions[external_row["label"]] = external_predictions
            stats[external_row["label"]] = kind.example_statistics(
                one_hot_logits(external_predictions, len(labels)), gold, data.labels)
    t_verdict = time.perf_counter()
    majority_stats = kind.example_statistics(baseline.outputs, gold, data.labels)
    add_verdicts(rows, stats, majority_stats, lambda sums: kind.metric_of_sums(sums, data.labels), ex.resamples,
                 BOOTSTRAP_SEED)
    add_fidelity(rows, fidelity_predictions, ex.resamples, BOOTSTRAP_SEED)
    _log(f"scored in {scoring_seconds:.1f} s; intervals in {time.perf_counter() - t_verdict:.1f} s")
    _log(f"timing {len(timed)} model variants at batch sizes {ex.batch_sizes}, threads {ex.threads}")
    speed = measure_speed(timed, ex.batch_sizes, ex.threads, ex.warmup, ex.max_batches, ex.max_seconds, _log)
    measured = [row for row in rows if row["label"] in speed]  # not an external teacher's row
    for row in measured:
        row["latency"] = speed[row["label"]]
        row["memory"] = None
    if ex.memory:  # one fresh single-threaded process per row, as many at once as there are cores
        _log(f"peak memory of a fresh process for each of {len(measured)} model variants")
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            jobs = {pool.submit(measure_peak_rss, Path(row["path"]), row["runtime"], texts[:ex.memory_batch_size]):
                    row for row in measured}
            for job, row in jobs.items():
                row["memory"] = job.result()
    _add_quality(rows, primary, _quality_groups(run), ex.int8_max_drop)
    _add_ratios(rows)
    report = {"run": config.name, "task": config.data.task, "primary_metric": primary,
              "test": {"source": config.data_path("test"), "examples": len(gold)},
              "timing": {"threads": ex.threads, "batch_sizes": ex.batch_sizes, "warmup": ex.warmup,
                         "max_batches": ex.max_batches, "max_seconds": ex.max_seconds,
                         "reference_batch_sizes": ex.reference_batch_sizes, "quality_batch_size": ex.quality_batch_size,
                         "inputs": "test texts in file order (wrapping around), padded per batch, pre-tokenized"},
              "models": rows, "scoring_seconds": round(scoring_seconds, 1),
              "exam_seconds": round(time.perf_counter() - t0, 1)}
    majority_metrics = kind.evaluate(baseline.outputs, gold, data.labels)
    report.update(
        baselines={"majority": {"name": MAJORITY_NAME, "label": baseline.answer, "metrics": majority_metrics.metrics,
                                "from": baseline.rule},
                   "no_teacher": sorted(no_teacher)},
        intervals={"method": "paired bootstrap over the test examples (percentile 95% interval)",
                   "metric": majority_metrics.primary, "resamples": ex.resamples, "seed": BOOTSTRAP_SEED},
        fidelity=({"source": fidelity.source, "examples": len(fidelity.texts), "available": fidelity.available,
                   "reference": "the PyTorch teacher's predictions"} if fidelity
                  else {"note": NO_SET if per_example else NO_FIDELITY_FOR_KIND}))
    if set(ex.devices) != {"cpu"}:  # accelerator rows (exam.devices), taskdistil.exam.gpu
        report["device_rows"] = device_rows(run, ex, texts, _log)
    write_json(exam_dir / "measurements.json", report)
    if per_example:
        write_json(exam_dir / PREDICTIONS, {"labels": labels, "gold": gold.tolist(),
                                            "test": {k: v.tolist() for k, v in predictions.items()},
                                            "fidelity": {k: v.tolist() for k, v in fidelity_predictions.items()}})
    return {"measurements": str(exam_dir / "measurements.json"), "exam_seconds": report["exam_seconds"],
            "models": {r["label"]: r["metrics"] for r in rows}}


def _add_quality(rows: list[dict], primary: str, groups: dict[str, list[str]], int8_max_drop: float) -> None:
    by_key = {(r["name"], r["runtime"]): r for r in rows}
    teacher = by_key[("teacher", "torch")] if ("teacher", "torch") in by_key else next(
        r for r in rows if r["role"] == "teacher")
    for row in rows:
        if row["metrics"] is None:
            row.update(quality=None, retention=None, int8_drop=None, int8_flag=False)
            continue
        members = groups.get(row["name"], [row["name"]])
        values = [by_key[(m, row["runtime"])]["metrics"][primary] for m in members if (m, row["runtime"]) in by_key]
        row["quality"] = {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                          "seeds": len(values), "members": members}
        teacher_value = (teacher["metrics"] or {}).get(primary)  # an external teacher may have none
        row["retention"] = row["metrics"][primary] / teacher_value if teacher_value else None
        base = by_key.get((row["name"], "torch"))
        drop = drop_batched = None
        if base and row["runtime"] == "onnx-int8":
            drop = base["metrics"][primary] - row["metrics"][primary]
            if row.get("metrics_batched"):
                drop_batched = base["metrics"][primary] - row["metrics_batched"][primary]
        row["int8_drop"] = drop
        row["int8_drop_batched"] = drop_batched
        row["int8_flag"] = any(d is not None and d > int8_max_drop for d in (drop, drop_batched))


def _add_ratios(rows: list[dict]) -> None:
    """Speed ratios (other ms / this ms) vs the eager teacher, the teacher's fastest runtime, the reference."""
    teachers = [r for r in rows if r["role"] == "teacher"]
    eager = next((r for r in teachers if r["runtime"] == "torch"), teachers[0])
    reference = next((r for r in rows if r["role"] == "reference"), None)

    def p50(row, t, bs):
        return row["latency"].get(t, {}).get(bs, {}).get("p50_ms") if row else None

    for row in rows:
        ratios = {"vs_teacher": {}, "vs_teacher_fastest": {}, "vs_reference": {}}
        for t, by_bs in row["latency"].items():
            for bs, point in by_bs.items():
                fastest = min((p50(r, t, bs) for r in teachers if p50(r, t, bs)), default=None)
                for key, other in (("vs_teacher", p50(eager, t, bs)), ("vs_teacher_fastest", fastest),
                                   ("vs_reference", p50(reference, t, bs))):
                    if other:
                        ratios[key].setdefault(t, {})[bs] = round(other / point["p50_ms"], 3)
        row["ratios"] = ratios
