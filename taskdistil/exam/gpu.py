"""The exam's optional accelerator rows (``exam.devices: [cpu, cuda]``): PyTorch latency and throughput of the
teacher and every student on a GPU (or MPS), for users who serve there. CPU stays the exam's target and is always
measured; these rows add to it and pick nothing.

Each point times full batches of test texts in file order (as the CPU rows), already on the device, after warm-up,
with the device synchronized before and after each batch (``torch.cuda.synchronize``), so a time covers the
kernels and not just their launch. Batch 1 gives latency p50/p95; larger batches, throughput.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from taskdistil.artifact import load
from taskdistil.devices import resolve_device
from taskdistil.exam.speed import make_batches

if TYPE_CHECKING:
    from taskdistil.config import ExamConfig


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (a no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@torch.inference_mode()
def time_on_device(forward: Callable, batches: list, device: torch.device, warmup: int, max_batches: int,
                   max_seconds: float) -> list[float]:
    """Milliseconds per batch of ``batches`` (already on ``device``) after ``warmup`` batches, at most
    ``max_batches`` batches or ``max_seconds`` (one batch at least)."""
    for k in range(warmup):
        forward(*batches[k % len(batches)])
    synchronize(device)
    times: list[float] = []
    end = time.perf_counter() + max_seconds
    while len(times) < max_batches and (not times or time.perf_counter() < end):
        ids, mask = batches[len(times) % len(batches)]
        synchronize(device)
        t0 = time.perf_counter()
        forward(ids, mask)
        synchronize(device)
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def device_rows(run: Any, exam: ExamConfig, texts: list, log: Callable[[str], None]) -> list[dict]:
    """One row per (accelerator of ``exam.devices``, model, batch size) of the exported models of ``run`` (the
    pipeline's Run); [] for a CPU-only exam."""
    rows: list[dict] = []
    for i, spec in enumerate(exam.devices):
        if spec == "cpu":
            continue
        device = resolve_device(spec, f"exam.devices.{i}")
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
        for model in ["teacher"] + [s.name for s in run.config.students]:
            log(f"{model} (torch) on {device} ({name}): batch sizes {exam.batch_sizes}")
            predictor = load(run.export_dir(model))
            predictor.model.to(device)
            encoded = predictor.encode(texts)
            for batch_size in exam.batch_sizes:
                count = max(1, min(exam.max_batches, 20))
                batches = [(ids.to(device), mask.to(device))
                           for ids, mask in make_batches(encoded, predictor.pad_id, batch_size, count)]
                times = np.asarray(time_on_device(predictor.forward, batches, device, exam.warmup, exam.max_batches,
                                                  exam.max_seconds))
                p50 = float(np.median(times))
                rows.append({"name": model, "device": str(device), "device_name": name, "runtime": "torch",
                             "batch_size": batch_size, "p50_ms": round(p50, 4),
                             "p95_ms": round(float(np.percentile(times, 95)), 4),
                             "throughput_per_s": round(batch_size * 1000.0 / p50, 1), "timed_batches": len(times)})
            del predictor
    return rows


def device_lines(report: dict) -> list[str]:
    """The report's Markdown section of the accelerator rows (none without them)."""
    rows = report.get("device_rows") or []
    if not rows:
        return []
    lines = ["## On accelerators (PyTorch)", "", "| model | device | batch | p50 ms | p95 ms | examples/s |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['name']} | {r['device']} ({r['device_name']}) | {r['batch_size']} | {r['p50_ms']:.3f} | "
              f"{r['p95_ms']:.3f} | {r['throughput_per_s']:,.0f} |" for r in rows]
    return lines + ["", "Inputs on the device before timing; the device synchronized around every batch. CPU rows "
                    "above are the exam's target; these only inform serving on accelerators.", ""]
