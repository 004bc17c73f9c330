"""bench/task_kinds.py --seeds: every student repeated once per seed in one run (one teacher and annotation cache),
summarised per student as mean ± sample std over the seeds; --table renders task_kinds.json as Markdown."""

from __future__ import annotations

import importlib.util
import statistics

import pytest

from taskdistil.config import load_config
from taskdistil.pipeline import student_settings

from conftest import REPO

spec = importlib.util.spec_from_file_location("task_kinds", REPO / "bench" / "task_kinds.py")
task_kinds = importlib.util.module_from_spec(spec)
spec.loader.exec_module(task_kinds)


def test_seed_overrides_repeat_every_student_per_seed(shared_data, monkeypatch):
    monkeypatch.setenv("TASKDISTIL_DATA", str(shared_data))
    path = str(REPO / "examples" / "wrete.yaml")
    overrides = task_kinds.seed_overrides(path, ["students.cnn.train.epochs=3", "run_dir=/tmp/x"], [1, 2, 3])
    config = load_config(path, overrides)
    base = load_config(path)
    assert [s.name for s in config.students[:5]] == [f"{s.name}-s1" for s in base.students]
    assert [s.seed for s in config.students] == [1] * 5 + [2] * 5 + [3] * 5
    assert config.seed == base.seed and str(config.resolved_run_dir()) == "/tmp/x"  # one teacher for every seed
    cnn = [s for s in config.students if s.kind == "cnn"]
    assert [s.train.epochs for s in cnn] == [3, 3, 3]  # overrides apply before the repetition
    # the copies differ from the config's students in name and seed only (the exam groups them so)
    for s in config.students:
        original = next(b for b in base.students if s.name.startswith(b.name + "-s"))
        if s.kind != "cnn":
            assert student_settings(s, exclude=("name", "seed")) == student_settings(original,
                                                                                     exclude=("name", "seed"))


def _row(name, role, kind, value, ms, runtime="torch"):
    return {"name": name, "role": role, "kind": kind, "runtime": runtime, "metrics": {"accuracy": value},
            "parameters": 10, "latency": {"1": {"1": {"p50_ms": ms}, "32": {"p50_ms": 4 * ms}}}}


def test_summarize_seeds_mean_sample_std_and_table():
    rows = [_row("teacher", "teacher", "teacher", 0.7, 20.0), _row("teacher", "teacher", "teacher", 0.7, 10.0,
                                                                  "onnx-int8")]
    accuracy = {1: 0.60, 2: 0.64, 3: 0.65}
    for seed, value in accuracy.items():
        rows.append(_row(f"cnn-s{seed}", "student", "cnn", value, 1.0 * seed))
        rows.append(_row(f"cnn-s{seed}", "student", "cnn", value, 0.5, "onnx"))
        rows.append(_row(f"static-s{seed}", "student", "static", 0.5, 2.0))
    measurements = {"primary_metric": "accuracy", "test": {"examples": 100}, "models": rows,
                    "baselines": {"majority": {"label": "yes", "metrics": {"accuracy": 0.61}}}}
    entry = task_kinds.summarize_seeds(measurements, ["cnn", "static"], [1, 2, 3])
    cnn = entry["students"]["cnn"]
    assert cnn["mean"] == pytest.approx(statistics.fmean(accuracy.values()), abs=1e-4)
    assert cnn["std"] == pytest.approx(statistics.stdev(accuracy.values()), abs=1e-4) != pytest.approx(
        statistics.pstdev(accuracy.values()), abs=1e-4)
    assert cnn["per_seed"] == {"1": 0.6, "2": 0.64, "3": 0.65}
    assert cnn["latency_ratio_bs1"] == 10.0  # median over seeds of 20 / (1, 2, 3)
    assert cnn["best_runtime_ratio_bs1"] == 20.0  # int8 teacher (10 ms) vs each seed's fastest (onnx, 0.5 ms)
    assert entry["students"]["static"]["std"] == 0.0
    assert entry["student_name"] == "cnn" and entry["majority_class"]["accuracy"] == 0.61
    entry["seeds"] = [1, 2, 3]
    markdown = task_kinds.table({"wrete": entry})
    assert "| wrete | cnn | cnn | 63.00 ± 2.65 | 10.0 |" in markdown
    assert "| wrete | majority class (yes) | baseline | 61.00 |" in markdown
