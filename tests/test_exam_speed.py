"""Exam pieces: latency measurement, the markdown report, classification metrics."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from taskdistil.exam.report import render_markdown
from taskdistil.exam.speed import Timed, make_batches, measure_point, measure_speed
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


def timed(name: str, forward, **kw) -> Timed:
    return Timed(name, lambda threads: forward, ENCODED, 0, **kw)


def test_make_batches_are_full_and_wrap_around_in_file_order():
    batches = make_batches([[5], [6, 7, 8], [9, 9]], pad_id=0, batch_size=2, count=3)
    assert len(batches) == 3
    ids, mask = batches[0]
    assert ids.tolist() == [[5, 0, 0], [6, 7, 8]] and mask.tolist() == [[1, 0, 0], [1, 1, 1]]
    assert batches[1][0].tolist() == [[9, 9], [5, 0]]  # wraps around: every batch is full
    assert batches[2][0].tolist() == [[6, 7, 8], [9, 9, 0]]


def test_measure_point_slow_vs_fast():
    slow_calls, fast_calls = [], []
    models = [timed("slow", sleeper(0.002, slow_calls)), timed("fast", sleeper(0.0002, fast_calls))]
    threads_before = torch.get_num_threads()
    out = measure_point(models, batch_size=4, threads=1, warmup=1, max_batches=9, max_seconds=10.0, rounds=3)
    assert torch.get_num_threads() == threads_before  # restored
    assert set(out) == {"slow", "fast"}
    for name, calls in (("slow", slow_calls), ("fast", fast_calls)):
        r = out[name]
        assert r["timed_batches"] == 9  # the time budget is ample: exactly max_batches
        assert len(calls) == 9 + 3  # + one warm-up batch per round (short batches are re-warmed)
        assert set(calls) == {4}
        assert r["batch_size"] == 4 and r["threads"] == 1
        assert r["p95_ms"] >= r["p50_ms"] > 0
        assert r["ms_per_example"] == pytest.approx(r["p50_ms"] / 4, abs=1e-3)
        assert r["throughput_per_s"] == pytest.approx(4000 / r["p50_ms"], rel=1e-3)
    assert out["slow"]["p50_ms"] >= 2.0  # sleep(2 ms) can't be faster
    assert out["slow"]["p50_ms"] > out["fast"]["p50_ms"]
    assert out["fast"]["p50_ms"] < 2.0


@pytest.mark.parametrize("max_batches", [3, 4, 7, 20])
def test_measure_point_respects_max_batches(max_batches):
    out = measure_point([timed("m", sleeper(0.0002))], batch_size=8, threads=1, warmup=0,
                        max_batches=max_batches, max_seconds=10.0, rounds=3)
    assert 3 <= out["m"]["timed_batches"] <= max_batches


def test_a_batch_longer_than_the_budget_is_timed_once():
    calls = []
    out = measure_point([timed("slow", sleeper(0.02, calls))], batch_size=4, threads=1, warmup=0,
                        max_batches=1000, max_seconds=0.01, rounds=3)
    assert out["slow"]["timed_batches"] == 1 and len(calls) == 1  # no re-warm-up, no further rounds


def test_short_budget_still_times_every_round_until_spent():
    out = measure_point([timed("mid", sleeper(0.004))], batch_size=4, threads=1, warmup=0, max_batches=1000,
                        max_seconds=0.03, rounds=3)
    # 10 ms per round: about 2-3 batches of 4 ms each round, rounds stop once 30 ms are spent
    assert 3 <= out["mid"]["timed_batches"] <= 12


def test_warmup_is_capped_by_half_the_time_budget():
    calls = []
    measure_point([timed("slow", sleeper(0.02, calls))], batch_size=4, threads=1, warmup=50, max_batches=3,
                  max_seconds=0.06, rounds=1)
    assert len(calls) < 10  # 50 warm-up batches of 20 ms would take 1 s; the cap is 30 ms


def test_measure_speed_covers_threads_and_batch_sizes_and_asks_each_thread_count():
    asked = []

    def make(threads):
        asked.append(threads)
        return sleeper(0.0002)

    models = [Timed("a", make, ENCODED, 0), timed("ref", sleeper(0.0002), batch_sizes=[1])]
    out = measure_speed(models, batch_sizes=[1, 4], threads=[1, 2], warmup=0, max_batches=3, max_seconds=1.0)
    assert set(out["a"]) == {"1", "2"} and set(out["a"]["1"]) == {"1", "4"}
    assert out["a"]["2"]["4"]["threads"] == 2 and out["a"]["2"]["4"]["batch_size"] == 4
    assert set(out["ref"]["1"]) == {"1"}  # timed only at its own batch sizes
    assert asked == [1, 2]  # one forward per thread count, reused across batch sizes


def _row(name, runtime, role, acc, ms1, vs_teacher):
    return {"name": name, "runtime": runtime, "role": role, "kind": name, "label": f"{name} ({runtime})",
            "metrics": None if acc is None else {"accuracy": acc, "macro_f1": acc - 0.01},
            "quality": None if acc is None else {"mean": acc, "std": 0.0, "seeds": 1, "members": [name]},
            "retention": None if acc is None else acc / 0.9, "parameters": 1234567,
            "parameters_without_embeddings": 34567, "disk_bytes": 2_500_000,
            "memory": {"peak_rss_bytes": 300_000_000, "baseline_rss_bytes": 250_000_000, "batch_size": 32},
            "latency": {"1": {"1": {"p50_ms": ms1, "p95_ms": ms1 * 1.5, "throughput_per_s": 1000 / ms1,
                                    "timed_batches": 100},
                              "32": {"p50_ms": ms1 * 8, "p95_ms": ms1 * 9, "throughput_per_s": 32000 / ms1 / 8,
                                     "timed_batches": 7 if name == "teacher" else 100}}},
            "ratios": {"vs_teacher": {"1": {"1": vs_teacher}}}}


def _report() -> dict:
    return {"run": "tiny", "task": "single_sentence", "primary_metric": "accuracy",
            "timing": {"threads": [1], "batch_sizes": [1, 32], "max_batches": 100, "max_seconds": 5.0,
                       "inputs": "test texts"},
            "test": {"source": "data/test.tsv", "examples": 100},
            "models": [_row("teacher", "torch", "teacher", 0.9, 12.0, 1.0),
                       _row("bilstm", "onnx-int8", "student", 0.855, 1.5, 8.0)],
            "recommendation": {"reason": "bilstm (onnx-int8) is the one."},
            "stage_seconds": {"teacher": 10.0, "exam": 2.5}}


def test_render_markdown_table():
    md = render_markdown(_report())
    lines = md.splitlines()
    header = next(line for line in lines if line.startswith("| model"))
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells[:3] == ["model", "runtime", "accuracy"]
    assert "bs32 ex/s (t1)" in cells and "bs1 p50 ms (t1)" in cells and "vs teacher bs1 (t1)" in cells
    table = [[c.strip() for c in line.strip("|").split("|")] for line in lines[lines.index(header) + 2:]
             if line.startswith("| ") and line.count("|") == header.count("|")]
    assert len(table) == 2  # one row per model variant
    row = dict(zip(cells, table[1]))
    assert row["model"] == "bilstm" and row["runtime"] == "onnx-int8"
    assert row["accuracy"] == "85.50" and row["retention"] == "95.0%"
    assert row["vs teacher bs1 (t1)"] == "8.0x" and row["vs BERT-base bs1 (t1)"] == "–"
    assert row["bs1 p50 ms (t1)"] == "1.50" and row["params"] == "1,234,567" and row["disk MB"] == "2.5"
    assert row["bs32 ex/s (t1)"] == "2,667" and row["peak RSS MB"] == "300.0"
    assert "# Exam: tiny" in md and "| **total** | 12.5 |" in md
    assert "bilstm (onnx-int8) is the one." in md
    assert "Timed batches per point: 7 to 100" in md


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
