"""CPU latency and throughput: threads pinned, warm-up, medians over timed batches of real inputs.

Models are timed in rounds that alternate between them (teacher, student, teacher, ...),
so a slow spell of a shared machine hits all of them alike; ratios come from one process.
Batches are consecutive test examples in file order (wrapping around), always full, so a
batch's length distribution is the test set's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from taskdistil.train.batching import pad_ids

Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Timed:
    """One model variant to time: ``make_forward(threads)`` gives its forward for a thread count."""

    name: str
    make_forward: Callable[[int], Forward]
    encoded: Sequence[Sequence[int]]
    pad_id: int
    batch_sizes: Sequence[int] | None = None  # None: every batch size of the exam
    _forwards: dict[int, Forward] = field(default_factory=dict, repr=False)

    def forward(self, threads: int) -> Forward:
        if threads not in self._forwards:
            self._forwards[threads] = self.make_forward(threads)
        return self._forwards[threads]


def make_batches(encoded: Sequence[Sequence[int]], pad_id: int, batch_size: int,
                 count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` full batches of consecutive examples (wrapping around the test set), padded per batch."""
    n = len(encoded)
    return [pad_ids([encoded[(b * batch_size + i) % n] for i in range(batch_size)], pad_id) for b in range(count)]


@torch.inference_mode()
def _time_batches(forward: Forward, batches: list, start: int, warmup: int, max_batches: int,
                  max_seconds: float) -> list[float]:
    warm_end = time.perf_counter() + max_seconds / 2
    for k in range(warmup):  # warm-up: at most `warmup` batches or half the time budget
        forward(*batches[(start + k) % len(batches)])
        if time.perf_counter() > warm_end:
            break
    times = []
    budget_end = time.perf_counter() + max_seconds
    k = 0
    while k < max_batches and (k < 1 or time.perf_counter() < budget_end):
        ids, mask = batches[(start + k) % len(batches)]
        t0 = time.perf_counter()
        forward(ids, mask)
        times.append((time.perf_counter() - t0) * 1000.0)
        k += 1
    return times


def measure_point(models: Sequence[Timed], batch_size: int, threads: int, warmup: int = 10,
                  max_batches: int = 100, max_seconds: float = 5.0, rounds: int = 3) -> dict[str, dict]:
    """One (batch size, threads) point for every model: p50/p95 ms per batch, throughput, batches timed.

    A model gets at most ``max_batches`` batches and ``max_seconds`` seconds of timing in
    all, spread over ``rounds`` rounds. The first round warms up (``warmup`` batches, at most
    half its time) and always times one batch; a later round re-warms with one batch only
    when batches are short (cache effects), and is skipped once the model used its time
    budget, so a model whose one batch outlasts the budget is timed once, as the budget says.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        per_round = max(1, max_batches // rounds)
        budget = max_seconds / rounds
        batches = {m.name: make_batches(m.encoded, m.pad_id, batch_size, per_round * rounds) for m in models}
        samples: dict[str, list[float]] = {m.name: [] for m in models}
        for r in range(rounds):
            for m in models:
                done = samples[m.name]
                if r and sum(done) >= max_seconds * 1000.0:
                    continue  # budget spent (a long batch): no more rounds for this model
                rewarm = 1 if r and float(np.median(done)) < budget * 1000.0 / 4 else 0
                done += _time_batches(m.forward(threads), batches[m.name], r * per_round,
                                      warmup if r == 0 else rewarm, per_round, budget)
    finally:
        torch.set_num_threads(previous)
    out = {}
    for m in models:
        t = np.asarray(samples[m.name])
        p50 = float(np.median(t))
        out[m.name] = {"batch_size": batch_size, "threads": threads, "p50_ms": round(p50, 4),
                       "p95_ms": round(float(np.percentile(t, 95)), 4),
                       "ms_per_example": round(p50 / batch_size, 5),
                       "throughput_per_s": round(batch_size * 1000.0 / p50, 1), "timed_batches": int(len(t))}
    return out


def measure_speed(models: Sequence[Timed], batch_sizes: Sequence[int], threads: Sequence[int], warmup: int = 10,
                  max_batches: int = 100, max_seconds: float = 5.0,
                  progress: Callable[[str], None] | None = None) -> dict[str, dict[str, dict[str, dict]]]:
    """``{model: {threads: {batch_size: point}}}`` (string keys) over every thread count and batch size."""
    out: dict[str, dict[str, dict[str, dict]]] = {m.name: {} for m in models}
    for t in threads:
        for bs in batch_sizes:
            chosen = [m for m in models if m.batch_sizes is None or bs in m.batch_sizes]
            if progress:
                progress(f"timing batch size {bs} with {t} thread(s): {len(chosen)} models")
            point = measure_point(chosen, bs, t, warmup, max_batches, max_seconds)
            for name, result in point.items():
                out[name].setdefault(str(t), {})[str(bs)] = result
    return out
