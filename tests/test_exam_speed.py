"""Exam pieces: latency measurement, the markdown report, classification metrics."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from taskdistil.exam.report import render_markdown
from taskdistil.exam.speed import Timed, make_batches, measure_latency
from taskdistil.tasks.classification import classification_metrics

ENCODED = [[1] * (1 + i % 5) for i in range(40)]  # 40 examples of 1..5 tokens


def sleeper(seconds: float, calls: list | None = None):
    def forward(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        assert ids.shape == mask.shape and ids.dtype == torch.long
        if calls is not None:
            calls.append(ids.shape[0])
        time.sleep(seconds)
        return torch.zeros(ids.shape[0], 2)
    return forward


def test_make_batches_pads_in_file_order():
    batches = make_batches([[5], [6, 7, 8], [9, 9]], pad_id=0, batch_size=2)
    assert len(batches) == 2
    ids, mask = batches[0]
    assert ids.tolist() == [[5, 0, 0], [6, 7, 8]] and mask.tolist() == [[1, 0, 0], [1, 1, 1]]
    assert batches[1][0].tolist() == [[9, 9]]


def test_measure_latency_slow_vs_fast():
    slow_calls, fast_calls = [], []
    models = [Timed("slow", sleeper(0.002, slow_calls), ENCODED, 0),
              Timed("fast", sleeper(0.0002, fast_calls), ENCODED, 0)]
    threads_before = torch.get_num_threads()
    out = measure_latency(models, batch_size=4, threads=1, warmup=1, max_batches=9, max_seconds=10.0, rounds=3)
    assert torch.get_num_threads() == threads_before  # restored
    assert set(out) == {"slow", "fast"}
    for name, calls in (("slow", slow_calls), ("fast", fast_calls)):
        r = out[name]
        assert r["timed_batches"] == 9  # the time budget is ample: exactly max_batches
        assert len(calls) == 9 + 3  # + one warm-up batch per round
        assert set(calls) == {4}
        assert r["batch_size"] == 4 and r["threads"] == 1
        assert r["p95_ms"] >= r["median_ms"] > 0
        assert r["ms_per_example"] == pytest.approx(r["median_ms"] / 4, abs=1e-3)
    assert out["slow"]["median_ms"] >= 2.0  # sleep(2 ms) can't be faster
    assert out["slow"]["median_ms"] > out["fast"]["median_ms"]
    assert out["fast"]["median_ms"] < 2.0


@pytest.mark.parametrize("max_batches", [3, 4, 7, 20])
def test_measure_latency_respects_max_batches(max_batches):
    models = [Timed("m", sleeper(0.0002), ENCODED, 0)]
    out = measure_latency(models, batch_size=8, threads=1, warmup=0, max_batches=max_batches,
                          max_seconds=10.0, rounds=3)
    assert 3 <= out["m"]["timed_batches"] <= max_batches


def test_measure_latency_time_budget_keeps_at_least_three():
    models = [Timed("slow", sleeper(0.002), ENCODED, 0)]
    out = measure_latency(models, batch_size=4, threads=1, warmup=0, max_batches=1000, max_seconds=0.01,
                          rounds=1)
    assert 3 <= out["slow"]["timed_batches"] < 10  # cut by the time budget, never below 3


def _report() -> dict:
    def model(name, kind, acc, ms1, ms32, speed1, speed32):
        return {"name": name, "kind": kind, "metrics": {"accuracy": acc, "macro_f1": acc - 0.01},
                "retention": acc / 0.9, "parameters": 1234567, "disk_bytes": 2_500_000,
                "latency": {"1": {"median_ms": ms1}, "32": {"median_ms": ms32}},
                "speedup": {"1": speed1, "32": speed32}}

    return {"run": "tiny", "primary_metric": "accuracy", "threads": 1, "batch_sizes": [1, 32],
            "test": {"source": "data/test.tsv", "examples": 100},
            "models": [model("teacher", "teacher", 0.9, 12.0, 80.0, 1.0, 1.0),
                       model("bilstm", "bilstm", 0.855, 1.5, 4.0, 8.0, 20.0)],
            "stage_seconds": {"teacher": 10.0, "exam": 2.5}}


def test_render_markdown_table():
    md = render_markdown(_report())
    lines = md.splitlines()
    header = next(line for line in lines if line.startswith("| model"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells[:3] == ["model", "kind", "accuracy"]
    assert "speed-up bs1" in cells and "speed-up bs32" in cells and "bs32 ms" in cells
    table = [[c.strip() for c in line.strip("|").split("|")] for line in lines[lines.index(header) + 2:]
             if line.startswith("| ") and line.count("|") == header.count("|")]
    rows = {r[0]: r for r in table}
    assert len(table) == 2  # one row per model
    assert set(rows) == {"teacher", "bilstm"}
    row = dict(zip(cells, rows["bilstm"]))
    assert row["accuracy"] == "85.50" and row["retention"] == "95.0%"
    assert row["speed-up bs1"] == "8.0x" and row["speed-up bs32"] == "20.0x"
    assert row["bs1 ms"] == "1.50" and row["params"] == "1,234,567" and row["disk MB"] == "2.5"
    assert dict(zip(cells, rows["teacher"]))["speed-up bs32"] == "1.0x"
    assert "# Exam: tiny" in md and "| **total** | 12.5 |" in md


def test_classification_metrics_hand_example():
    gold = np.array([0, 0, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 0])
    logits = np.eye(3)[pred] * 2.0 - 1.0
    ev = classification_metrics(logits, gold)
    assert ev.primary == "accuracy"
    assert ev.metrics["accuracy"] == pytest.approx(3 / 5)
    # F1 per class: 0 -> tp1 fp1 fn1 = 0.5; 1 -> tp2 fp1 fn0 = 0.8; 2 -> tp0 fn1 = 0
    assert ev.metrics["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert ev.score == ev.metrics["accuracy"]
    perfect = classification_metrics(np.eye(3)[gold], gold)
    assert perfect.metrics == {"accuracy": 1.0, "macro_f1": 1.0}
    # a class only predicted (never gold) still counts in the macro average
    ev2 = classification_metrics(np.eye(3)[[0, 2]], np.array([0, 1]))
    assert ev2.metrics["accuracy"] == 0.5
    assert ev2.metrics["macro_f1"] == pytest.approx((1.0 + 0.0 + 0.0) / 3)
