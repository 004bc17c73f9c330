"""CPU latency measurement: threads pinned, warm-up, median over timed batches of real inputs.

Models are timed in rounds that alternate between them (teacher, student, teacher, ...),
so a slow spell of a shared machine hits all of them alike; ratios come from one process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from taskdistil.train.batching import pad_ids

Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Timed:
    """One model's inputs: its forward and the test set encoded by its own tokenizer."""

    name: str
    forward: Forward
    encoded: Sequence[Sequence[int]]
    pad_id: int


def make_batches(encoded: Sequence[Sequence[int]], pad_id: int,
                 batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive test examples in file order, padded as a server would pad them."""
    return [pad_ids(encoded[i:i + batch_size], pad_id) for i in range(0, len(encoded), batch_size)]


@torch.inference_mode()
def _time_batches(forward: Forward, batches: list, start: int, warmup: int, max_batches: int,
                  max_seconds: float) -> list[float]:
    for k in range(warmup):
        forward(*batches[(start + k) % len(batches)])
    times = []
    budget_end = time.perf_counter() + max_seconds
    k = 0
    while k < max_batches and (k < 3 or time.perf_counter() < budget_end):
        ids, mask = batches[(start + k) % len(batches)]
        t0 = time.perf_counter()
        forward(ids, mask)
        times.append((time.perf_counter() - t0) * 1000.0)
        k += 1
    return times


def measure_latency(models: Sequence[Timed], batch_size: int, threads: int, warmup: int = 10,
                    max_batches: int = 100, max_seconds: float = 5.0, rounds: int = 3) -> dict[str, dict]:
    """Per model: median and p95 ms per batch, ms per example, and how many batches were timed.

    Each round times every model on the same batch positions; a model gets ``max_batches``
    and ``max_seconds`` spread over ``rounds`` rounds.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        batches = {m.name: make_batches(m.encoded, m.pad_id, batch_size) for m in models}
        samples: dict[str, list[float]] = {m.name: [] for m in models}
        per_round = max(1, max_batches // rounds)  # never more than max_batches in all
        for r in range(rounds):
            for m in models:
                samples[m.name] += _time_batches(m.forward, batches[m.name], r * per_round, warmup,
                                                 per_round, max_seconds / rounds)
    finally:
        torch.set_num_threads(previous)
    out = {}
    for m in models:
        t = np.asarray(samples[m.name])
        median = float(np.median(t))
        out[m.name] = {"batch_size": batch_size, "threads": threads, "median_ms": round(median, 4),
                       "p95_ms": round(float(np.percentile(t, 95)), 4),
                       "ms_per_example": round(median / batch_size, 4), "timed_batches": int(len(t))}
    return out
