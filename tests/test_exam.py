"""The exam stage on a tiny run: every model in every runtime, quality over seeds, fresh-process
memory, speed ratios, the recommendation under budgets (re-measuring nothing), model cards."""

from __future__ import annotations

import statistics

import pytest

import taskdistil
from taskdistil.cli import main
from taskdistil.exam.recommend import recommend
from taskdistil.io import read_json

from conftest import tiny_config

SMALL = {"embedding_dim": 16, "hidden_size": 8, "fc_dim": 8, "train": {"epochs": 1, "batch_size": 32}}
STUDENTS = [{"name": "bilstm", **SMALL}, {"name": "bilstm-s2", "seed": 2, **SMALL},
            {"name": "cnn", "kind": "cnn", "embedding_dim": 16, "num_filters": 4, "train": {"epochs": 1}}]
EXAM = {"warmup": 1, "max_batches": 3, "max_seconds": 0.2, "threads": [1], "batch_sizes": [1, 4],
        "reference": "none", "memory": True, "memory_batch_size": 4}
RUNTIMES = ("torch", "onnx", "onnx-int8")


@pytest.fixture(scope="module")
def exam_run(tmp_path_factory, sst2_small, tiny_teacher):
    root = tmp_path_factory.mktemp("exam_run")
    config = tiny_config(root, sst2_small, tiny_teacher, students=STUDENTS, exam=EXAM)
    assert main(["run", str(config)]) == 0
    return config, root / "run"


def test_every_model_in_every_runtime(exam_run):
    _, run_dir = exam_run
    report = read_json(run_dir / "report.json")
    labels = [m["label"] for m in report["models"]]
    assert labels == [f"{n} ({r})" for n in ("teacher", "bilstm", "bilstm-s2", "cnn") for r in RUNTIMES]
    for m in report["models"]:
        assert set(m["latency"]["1"]) == {"1", "4"}
        assert m["disk_bytes"] > 0 and m["parameters"] >= m["parameters_without_embeddings"] > 0
        if m["runtime"] == "onnx":
            assert m["parity_max_abs_diff"] <= 1e-4
        # int8 is scored text by text and in batches of 64 (its activation scales are per batch)
        assert (m["metrics_batched"] is not None) == (m["runtime"] == "onnx-int8")
        if m["runtime"] == "onnx-int8":
            torch_row = next(r for r in report["models"] if r["label"] == f"{m['name']} (torch)")
            assert m["int8_drop_batched"] == pytest.approx(
                torch_row["metrics"]["accuracy"] - m["metrics_batched"]["accuracy"])
        # ratios: the teacher's fastest runtime is never slower than its eager one
        r = m["ratios"]
        assert r["vs_teacher_fastest"]["1"]["1"] <= r["vs_teacher"]["1"]["1"] + 1e-9
        assert "vs_reference" in r and r["vs_reference"] == {}  # no reference in this run
    teacher = report["models"][0]
    assert teacher["ratios"]["vs_teacher"]["1"] == {"1": 1.0, "4": 1.0}


def test_quality_over_seeds_groups_same_recipe(exam_run):
    _, run_dir = exam_run
    report = read_json(run_dir / "report.json")
    rows = {m["label"]: m for m in report["models"]}
    for runtime in RUNTIMES:
        a, b = rows[f"bilstm ({runtime})"], rows[f"bilstm-s2 ({runtime})"]
        values = [a["metrics"]["accuracy"], b["metrics"]["accuracy"]]
        for row in (a, b):
            assert row["quality"]["members"] == ["bilstm", "bilstm-s2"] and row["quality"]["seeds"] == 2
            assert row["quality"]["mean"] == pytest.approx(statistics.fmean(values))
            assert row["quality"]["std"] == pytest.approx(statistics.stdev(values))
        assert rows[f"cnn ({runtime})"]["quality"]["seeds"] == 1
    md = (run_dir / "report.md").read_text()
    assert "(n=2)" in md


def test_memory_is_measured_in_fresh_processes(exam_run):
    _, run_dir = exam_run
    for m in read_json(run_dir / "report.json")["models"]:
        mem = m["memory"]
        assert mem["batch_size"] == 4
        # a fresh interpreter, never the exam process's own size
        assert 10e6 < mem["baseline_rss_bytes"] < mem["peak_rss_bytes"] < 4e9, m["label"]
        assert mem["torch_imported"] == (m["runtime"] == "torch"), m["label"]  # ONNX runs without PyTorch
    rows = {m["label"]: m for m in read_json(run_dir / "report.json")["models"]}
    # the eager teacher imports torch and transformers; the int8 student needs onnxruntime only
    assert rows["teacher (torch)"]["memory"]["peak_rss_bytes"] > 2 * rows["cnn (onnx-int8)"]["memory"]["peak_rss_bytes"]


def test_budgets_change_the_recommendation_without_measuring_again(exam_run, capsys):
    config, run_dir = exam_run
    measured = (run_dir / "exam" / "measurements.json").read_bytes()
    capsys.readouterr()
    assert main(["exam", str(run_dir), "--max-size-mb", "0.001"]) == 0  # a run directory works as the config
    out, err = capsys.readouterr()
    assert "[exam] up to date" in err
    assert "No student meets the budgets" in out
    report = read_json(run_dir / "report.json")
    assert report["budgets"]["max_size_mb"] == 0.001 and report["recommendation"]["chosen"] is None

    assert main(["exam", str(config), "--min-retention", "0.01", "--max-latency-ms", "10000"]) == 0
    report = read_json(run_dir / "report.json")
    students = [m for m in report["models"] if m["role"] == "student"]
    # the tiny random models show no skill on 100 test sentences: nothing is recommended, and the report says why
    assert not any(m["vs_majority"]["better"] for m in students)
    assert report["recommendation"]["chosen"] is None
    assert "better than the majority class" in report["recommendation"]["reason"]
    assert (run_dir / "exam" / "measurements.json").read_bytes() == measured
    html = (run_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 2 and "majority class" in html
    # without the verdict the budgets pick the best student
    plain = {**report, "models": [{k: v for k, v in m.items() if k != "vs_majority"} for m in report["models"]]}
    chosen = recommend(plain, max_latency_ms=10000, min_retention=0.01)["chosen"]
    best = max(m["metrics"]["accuracy"] for m in students)
    assert chosen in {m["label"] for m in students if m["metrics"]["accuracy"] == best}


def test_exported_directories_have_model_cards_and_load(exam_run, sst2_small):
    _, run_dir = exam_run
    report = read_json(run_dir / "report.json")
    texts = ["a gorgeous , witty , seductive movie .", "a dull , lifeless mess ."]
    for name in ("teacher", "bilstm", "cnn"):
        out = run_dir / "export" / name / "model"
        card = (out / "README.md").read_text()
        assert card.startswith(f"# {name}")
        torch_row = next(m for m in report["models"] if m["label"] == f"{name} (torch)")
        assert f"| torch | {100 * torch_row['metrics']['accuracy']:.2f} |" in card
        assert "onnx-int8" in card and "taskdistil.load" in card
        assert taskdistil.load(out, runtime="onnx").predict(texts) == taskdistil.load(out).predict(texts)
    assert "kind: cnn" in (run_dir / "export" / "cnn" / "model" / "README.md").read_text()  # the recipe


def test_new_timing_settings_remeasure_but_do_not_reexport(exam_run, capsys, tmp_path):
    import shutil

    config, run_dir = exam_run
    copy = shutil.copytree(run_dir, tmp_path / "run")
    capsys.readouterr()
    assert main(["exam", str(config), "--set", f"run_dir={copy}", "--set", "exam.batch_sizes=[1]",
                 "--set", "exam.memory=false"]) == 0
    err = capsys.readouterr().err
    assert "[export:teacher] up to date" in err and "[export:cnn] up to date" in err
    assert "[exam] inputs changed: redoing" in err
    report = read_json(copy / "report.json")
    assert all(set(m["latency"]["1"]) == {"1"} and m["memory"] is None for m in report["models"])


def test_teacher_onnx_tokenizes_exactly_like_the_teacher(exam_run):
    _, run_dir = exam_run
    out = run_dir / "export" / "teacher" / "model"
    texts = ["A gorgeous, witty, SEDUCTIVE movie.", "naïve café — résumé", "long " * 200, ""]
    eager, onnx = taskdistil.load(out), taskdistil.load(out, runtime="onnx", threads=1)
    assert onnx.encode(texts) == eager.encode(texts)
    assert len(onnx.encode(texts)[2]) == 64  # truncated to the teacher's max_length, [SEP] kept
    assert onnx.pad_id == eager.pad_id
