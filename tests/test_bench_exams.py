"""bench/lowres.py and bench/indonlu_exam.py summaries (from synthetic exam measurements), the IndoNLU exam's
student list, and bench/task_kinds.py --workers: students trained in parallel processes equal the serial ones."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil

import pytest

from taskdistil.config import load_config
from taskdistil.pipeline import run_all

from conftest import REPO, tiny_config


def _bench(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(name, role, kind, value, ms, runtime="torch", metric="accuracy"):
    return {"name": name, "role": role, "kind": kind, "runtime": runtime, "metrics": {metric: value},
            "parameters": 10, "disk_bytes": 100, "memory": {"peak_rss_bytes": 1000},
            "vs_teacher": {"difference": value - 0.8, "ci95": [value - 0.85, value - 0.75]},
            "latency": {"1": {"1": {"p50_ms": ms}, "32": {"p50_ms": 4 * ms}}}}


def test_lowres_paired_intervals_of_kd_against_no_kd_and_the_teacher():
    lowres = _bench("lowres")
    gold = [0, 1] * 100
    predictions = {"gold": gold, "test": {"soft (torch)": gold,  # right everywhere
                                          "nokd (torch)": [1 - g for g in gold[:100]] + gold[100:],  # half wrong
                                          "teacher (torch)": gold[:-2] + [1 - g for g in gold[-2:]]}}
    found = lowres.nokd_interval(predictions, "soft")
    low, high = found["kd_minus_nokd_ci95"]
    assert 0.35 < low < 0.5 < high < 0.65  # +50 points, and the interval around it
    teacher_right = {"gold": gold,
                     "test": {"soft (torch)": gold, "nokd (torch)": predictions["test"]["teacher (torch)"]}}
    low, high = lowres.nokd_interval(teacher_right, "soft")["kd_minus_nokd_ci95"]
    assert low >= 0 and high <= 0.03  # 2 examples of 200 apart: a narrow interval at or above 0


def test_lowres_summary_picks_the_best_distilled_student_and_checks_the_targets():
    lowres = _bench("lowres")
    rows = [_row("teacher", "teacher", "teacher", 0.80, 20.0), _row("nokd", "student", "bilstm", 0.70, 1.0),
            _row("hard", "student", "bilstm", 0.78, 1.0), _row("soft", "student", "bilstm", 0.795, 1.0),
            _row("soft", "student", "bilstm", 0.10, 1.0, runtime="onnx")]  # other runtimes are not read
    entry = lowres.summarize({"models": rows, "test": {"examples": 872}})
    assert entry["kd_student"] == "soft" and entry["kd_acc"] == 0.795 and entry["nokd_acc"] == 0.7
    assert entry["kd_minus_teacher_points"] == pytest.approx(-0.5) and entry["kd_minus_nokd_points"] == 9.5
    assert entry["targets"] == {"kd_within_1_point_of_teacher": True, "kd_3_points_above_nokd": True}
    rows[2]["metrics"]["accuracy"], rows[3]["metrics"]["accuracy"] = 0.72, 0.70
    assert lowres.summarize({"models": rows, "test": {"examples": 872}})["targets"] == {
        "kd_within_1_point_of_teacher": False, "kd_3_points_above_nokd": False}  # best is hard: 0.72
    chosen = lowres.summarize({"models": rows, "test": {"examples": 872}}, dev={"nokd": 0.9, "hard": 0.8, "soft": 0.85})
    assert chosen["kd_student"] == "soft" and chosen["kd_chosen_on"] == "dev" and chosen["kd_acc"] == 0.70
    assert chosen["students"]["hard"]["dev_accuracy"] == 0.8  # soft: best on dev though worse on test
    assert chosen["kd_minus_teacher_ci95"] == pytest.approx([-0.055, 0.045])  # soft's exam interval, as recorded
    assert lowres.summarize({"models": rows, "test": {"examples": 872}}, dev={"soft": 0.85})["kd_chosen_on"] == "test"
    with pytest.raises(SystemExit, match="no student named 'nokd'"):
        lowres.summarize({"models": rows[:1] + rows[2:], "test": {"examples": 872}})


def test_indonlu_exam_rows_and_averages(shared_data, monkeypatch, tmp_path):
    exam = _bench("indonlu_exam")
    rows = [_row("teacher", "teacher", "teacher", 0.5, 30.0, metric="f1"),
            _row("teacher", "teacher", "teacher", 0.5, 10.0, runtime="onnx-int8", metric="f1"),
            _row("bilstm", "student", "bilstm", 0.49, 2.0, metric="f1"),
            _row("bilstm", "student", "bilstm", 0.49, 1.0, runtime="onnx", metric="f1"),
            _row("cnn", "student", "cnn", 0.45, 1.0, metric="f1")]
    measurements = {"primary_metric": "f1", "models": rows, "test": {"examples": 9}}
    row = exam.task_row(measurements, {"bilstm": 0.6, "cnn": 0.5})
    assert row["best_student"] == "bilstm" and row["retention"] == 0.98 and row["latency_ratio_bs1"] == 15.0
    assert row["best_runtime_ratio_bs1"] == 10.0 and row["students"]["bilstm"]["best_runtime"] == "onnx"
    assert row["teacher"]["best_runtime"] == "onnx-int8" and row["students"]["cnn"]["peak_rss_bytes"] == 1000
    assert row["students"]["cnn"]["dev_f1"] == 0.5 and row["chosen_on"] == "dev"
    on_dev = exam.task_row(measurements, {"bilstm": 0.5, "cnn": 0.6})  # chosen on dev, though worse on test
    assert on_dev["best_student"] == "cnn" and on_dev["retention"] == 0.9 and on_dev["latency_ratio_bs1"] == 30.0
    budget = exam.task_row(measurements, {"bilstm": 0.6, "cnn": 0.5}, min_speedup=20)  # bilstm is 15x: too slow
    assert budget["best_student"] == "cnn" and budget["quality_pick"] == {
        "student": "bilstm", "retention": 0.98, "latency_ratio_bs1": 15.0}
    tie = exam.task_row(measurements, {"bilstm": 0.5, "cnn": 0.5})
    assert tie["best_student"] == "cnn"  # equal on dev: the faster one
    none_fast = exam.task_row(measurements, {"bilstm": 0.6, "cnn": 0.5}, min_speedup=100)
    assert none_fast["best_student"] == "bilstm"  # no student meets the budget: the quality pick, below 100x
    summary = exam.summarize({"a": row, "b": {**row, "retention": 0.95, "latency_ratio_bs1": 20.0}})
    assert summary["mean_retention"] == pytest.approx(0.965) and summary["min_latency_ratio_bs1"] == 15.0
    assert summary["targets"] == {"mean_retention_at_least_0.97": False, "every_best_at_least_15x": True,
                                  "all_7_tasks": False}
    assert summary["quality_picks"] == {"mean_retention": 0.98, "min_latency_ratio_bs1": 15.0}
    markdown = exam.table(summary)
    assert "| a (f1, 9) | 50.00 | bilstm 49.00 (60.00), 15.0x; cnn 45.00 (50.00), 30.0x" in markdown
    assert "mean retention 96.5%, slowest best student 15.0x" in markdown
    manifest = tmp_path / "run" / "students" / "cnn" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text('{"outputs": {"dev": {"accuracy": 0.7}}}')
    assert exam.dev_scores(manifest.parents[2], ["cnn"], "accuracy") == {"cnn": 0.7}
    with pytest.raises(SystemExit, match="no dev 'f1'"):
        exam.dev_scores(manifest.parents[2], ["cnn"], "f1")
    monkeypatch.setenv("TASKDISTIL_DATA", str(shared_data))
    for task, path in exam.TASKS.items():  # every example loads with the exam's students and settings
        students = exam.exam_students(str(REPO / path))
        assert [s.get("kind", "bilstm") for s in students][-1] == "transformer", task
        config = load_config(REPO / path, ["students=" + str(students).replace("'", '"').replace("None", "null"),
                                           "exam=" + str(exam.EXAM).replace("'", '"').replace("True", "true")])
        assert {s.kind for s in config.students} <= {"bilstm", "cnn", "transformer"}, task


def test_parallel_distill_processes_give_the_serial_students(tmp_path, sst2_small, tiny_teacher, monkeypatch):
    task_kinds = _bench("task_kinds")
    students = [{"name": n, "embedding_dim": 16, "hidden_size": 8, "fc_dim": 8, "train": {"epochs": 1}}
                for n in ("a", "b")] + [{"name": "c", "kind": "cnn", "embedding_dim": 16, "num_filters": 4,
                                         "train": {"epochs": 1}}]
    path = tiny_config(tmp_path, sst2_small, tiny_teacher, students=students)
    serial = load_config(path)
    run_all(serial)
    parallel = load_config(path, [f"run_dir={tmp_path / 'parallel'}"])
    for stage in ("teacher", "transfer", "annotations"):  # the shared stages as the serial run made them
        shutil.copytree(tmp_path / "run" / stage, tmp_path / "parallel" / stage)
    monkeypatch.chdir(REPO)
    task_kinds.distill_in_parallel(str(path), [f"run_dir={tmp_path / 'parallel'}"], parallel, workers=2)
    for name in ("a", "b", "c"):
        digests = {hashlib.sha256((tmp_path / run / "students" / name / "model" / "model.safetensors").read_bytes())
                   .hexdigest() for run in ("run", "parallel")}
        assert len(digests) == 1, name  # same seed, same settings: the same weights in another process
    assert (tmp_path / "parallel" / "logs" / "distill-c.log").read_text().strip()


def test_tang_summary_reads_fidelity_and_leaves_the_no_teacher_row_out_of_best(shared_data, monkeypatch):
    tang = _bench("tang_sst2")
    rows = [_row("teacher", "teacher", "teacher", 0.9, 20.0)]
    for seed in (1, 2):
        rows.append(_row(f"nokd-s{seed}", "student", "bilstm", 0.95, 1.0))  # better, but no teacher: not "best"
        rows.append({**_row(f"all-s{seed}", "student", "bilstm", 0.88 + 0.01 * seed, 2.0),
                     "fidelity": {"agreement": 0.90 + 0.01 * seed}})
        rows.append({**_row(f"unlabeled-s{seed}", "student", "bilstm", 0.93, 2.0),  # better on test, agrees less
                     "fidelity": {"agreement": 0.85}})
    entry = tang.summarize({"primary_metric": "accuracy", "test": {"examples": 872}, "models": rows},
                           ["nokd", "unlabeled", "all"], [1, 2])
    assert entry["best_student"] == "all" and entry["best_student_acc"] == pytest.approx(0.895)
    assert entry["best_chosen_on"] == "agreement_heldout"
    assert entry["agreement_heldout"] == pytest.approx(0.915) and entry["latency_ratio_bs1"] == 10.0
    assert entry["rows"]["nokd"]["agreement_heldout"] is None
    assert entry["rows"]["all"]["vs_teacher_ci95"]["2"] == pytest.approx([0.05, 0.15])
    checks = entry["targets"]["speed_at_quality"]
    assert checks["all"]["retention_ge_0.99"] and not checks["all"]["latency_ratio_bs1_ge_20"]
    assert not checks["unlabeled"]["agreement_heldout_ge_0.92"] and entry["targets"]["met_by"] == []
    markdown = tang.table(entry)
    assert "| all | 89.50 ± 0.71 | 99.4% |" in markdown and "| 91.50% |" in markdown
    monkeypatch.setenv("TASKDISTIL_DATA", str(shared_data))
    config = load_config(REPO / tang.CONFIG, _bench("task_kinds").seed_overrides(str(REPO / tang.CONFIG), [], [1, 2]))
    assert [s.name for s in config.students][:5] == ["nokd-s1", "train-only-s1", "augmented-s1", "unlabeled-s1",
                                                     "all-s1"]


def test_reexamine_runs_the_exam_once_more_and_only_the_exam(tmp_path, sst2_small, tiny_teacher):
    """bench/task_kinds.run_measured(reexamine=True): every earlier stage stays cached, the exam runs again once."""
    task_kinds = _bench("task_kinds")
    path = tiny_config(tmp_path, sst2_small, tiny_teacher)
    run = tmp_path / "run"

    def started(stage: str) -> int:  # the manifest's write time, in ns: a stage that runs rewrites it
        return (run / stage / "manifest.json").stat().st_mtime_ns

    task_kinds.run_measured(str(path), [])
    before = {stage: started(stage) for stage in ("teacher", "annotations", "students/bilstm", "exam")}
    task_kinds.run_measured(str(path), [])
    assert {stage: started(stage) for stage in before} == before  # a plain rerun: all cached
    _, measurements = task_kinds.run_measured(str(path), [], reexamine=True)
    after = {stage: started(stage) for stage in before}
    assert after["exam"] != before["exam"]
    assert {s: after[s] for s in before if s != "exam"} == {s: before[s] for s in before if s != "exam"}
    assert measurements == json.loads((run / "exam" / "measurements.json").read_text())  # the fresh exam's
