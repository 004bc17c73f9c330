"""The exam's verdict: majority-class and no-teacher baselines, bootstrap intervals, fidelity on held-out unlabeled
texts, and a recommendation that refuses models without skill (a run on random labels reproduces the no-skill case)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from taskdistil.cli import main
from taskdistil.config import ConfigError, load_config, student_config
from taskdistil.exam.baselines import trained_without_teacher
from taskdistil.exam.bootstrap import intervals
from taskdistil.exam.recommend import recommend
from taskdistil.io import read_json
from taskdistil.tasks.classification import majority_class

from conftest import tiny_config

SMALL = {"embedding_dim": 16, "hidden_size": 8, "fc_dim": 8, "train": {"epochs": 1, "batch_size": 32}}
STUDENTS = [{"name": "bilstm", **SMALL},
            {"name": "bilstm-gold", **SMALL, "loss": {"hard_weight": 1.0}}]  # trained without the teacher
EXAM = {"warmup": 1, "max_batches": 3, "max_seconds": 0.1, "threads": [1], "batch_sizes": [1],
        "runtimes": ["torch", "onnx-int8"], "reference": "none", "memory": False, "resamples": 2000}


def _random_label_data(root, shared_data):
    """SST-2 sentences with labels drawn at random (60% '1'): no model can beat always answering '1'."""
    rng = np.random.default_rng(7)
    lines = (shared_data / "sst2" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:]
    texts = [line.split("\t")[0] for line in lines]
    (root / "sst2").mkdir(parents=True)
    for name, start, rows in (("train", 0, 300), ("dev", 300, 80), ("test", 400, 300)):
        labels = (rng.random(rows) < 0.6).astype(int)
        body = "".join(f"{t}\t{y}\n" for t, y in zip(texts[start:start + rows], labels))
        (root / "sst2" / f"{name}.tsv").write_text("sentence\tlabel\n" + body, encoding="utf-8")
    (root / "unlabeled.txt").write_text("\n".join(texts[1000:1600]) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def no_skill_run(tmp_path_factory, shared_data, tiny_teacher):
    root = tmp_path_factory.mktemp("no_skill")
    data = _random_label_data(root / "data", shared_data)
    config = tiny_config(root, data, tiny_teacher, students=STUDENTS, exam=EXAM,
                         transfer={"unlabeled": [{"path": "unlabeled.txt"}], "heldout": 0.1})
    assert main(["run", str(config)]) == 0
    return config, root / "run"


def test_random_labels_no_model_beats_the_majority_and_nothing_is_recommended(no_skill_run):
    _, run_dir = no_skill_run
    report = read_json(run_dir / "report.json")
    majority = report["baselines"]["majority"]
    train = [line.split("\t")[1] for line in (run_dir.parent / "data/sst2/train.tsv").read_text().splitlines()[1:]]
    assert majority["label"] == max(set(train), key=train.count) == "1"
    gold = read_json(run_dir / "exam" / "predictions.json")["gold"]
    assert majority["metrics"]["accuracy"] == pytest.approx(np.mean(np.array(gold) == 1))
    for m in report["models"]:
        v = m["vs_majority"]
        assert not v["better"] and v["ci95"][0] <= 0 and v["verdict"] != "better than the majority class"
        assert m["margin_over_majority"] == pytest.approx(m["metrics"]["accuracy"] - majority["metrics"]["accuracy"])
    rec = report["recommendation"]
    assert rec["chosen"] is None and rec["candidates"] == []
    assert "none is significantly better than the majority class" in rec["reason"]
    assert "The teacher is not better than the majority class" in rec["reason"]
    assert all("majority class" in why for why in rec["rejected"].values())
    md = (run_dir / "report.md").read_text()
    assert "| majority-class (`1`) |" in md and "not better than the majority class" in md
    assert "vs majority pts [95% CI]" in (run_dir / "report.html").read_text()


def test_the_student_trained_without_a_teacher_is_a_baseline_row(no_skill_run):
    _, run_dir = no_skill_run
    report = read_json(run_dir / "report.json")
    assert report["baselines"]["no_teacher"] == ["bilstm-gold"]
    assert {m["name"] for m in report["models"] if m["baseline"] == "no-teacher"} == {"bilstm-gold"}
    assert "bilstm-gold (no teacher)" in (run_dir / "report.md").read_text()


def test_intervals_vs_the_teacher_and_how_each_row_was_scored(no_skill_run):
    _, run_dir = no_skill_run
    report = read_json(run_dir / "report.json")
    preds = read_json(run_dir / "exam" / "predictions.json")
    gold = np.array(preds["gold"])
    teacher_right = np.array(preds["test"]["teacher (torch)"]) == gold
    for m in report["models"]:
        right = np.array(preds["test"][m["label"]]) == gold
        assert m["metrics"]["accuracy"] == pytest.approx(right.mean())
        if m["label"] == "teacher (torch)":
            assert m["vs_teacher"] is None
            continue
        t = m["vs_teacher"]
        assert t["difference"] == pytest.approx(right.mean() - teacher_right.mean())
        assert t["ci95"][0] <= t["difference"] <= t["ci95"][1]
        assert t["verdict"] == ("not distinguishable from the teacher" if t["ci95"][0] <= 0 <= t["ci95"][1]
                                else "below the teacher" if t["ci95"][1] < 0 else "above the teacher")
        expected = ("one text at a time (batch 1); batched figures: length-bucketed batches of 64"
                    if m["runtime"] == "onnx-int8" else "length-bucketed batches of 64")
        assert m["scored"] == expected and (m["metrics_batched"] is not None) == (m["runtime"] == "onnx-int8")
    assert "Quality scored: length-bucketed batches of 64" in (run_dir / "report.md").read_text()


def test_fidelity_on_heldout_unlabeled_texts_no_student_trained_on(no_skill_run):
    _, run_dir = no_skill_run
    heldout = [json.loads(line)["text"] for line in (run_dir / "transfer" / "heldout.jsonl").read_text().splitlines()]
    transfer = [json.loads(line)["text"] for line in (run_dir / "transfer" / "examples.jsonl").read_text().splitlines()]
    summary = read_json(run_dir / "transfer" / "summary.json")
    assert 30 <= len(heldout) <= 100 and summary["heldout"]["count"] == len(heldout)
    assert not set(heldout) & set(transfer)  # never annotated, never trained on
    assert summary["by_origin"]["unlabeled"] + len(heldout) == summary["sources"][0]["examples_read"] - \
        summary["sources"][0]["duplicates"]
    report = read_json(run_dir / "report.json")
    assert report["fidelity"]["examples"] == len(heldout)
    preds = read_json(run_dir / "exam" / "predictions.json")["fidelity"]
    for m in report["models"]:
        if m["label"] == "teacher (torch)":
            assert m["fidelity"] is None
            continue
        agree = np.array(preds[m["label"]]) == np.array(preds["teacher (torch)"])
        assert m["fidelity"]["agreement"] == pytest.approx(agree.mean()) and m["fidelity"]["examples"] == len(heldout)
        assert m["fidelity"]["ci95"][0] <= m["fidelity"]["agreement"] <= m["fidelity"]["ci95"][1]
    assert "fidelity % [95% CI]" in (run_dir / "report.md").read_text()


def test_a_run_without_unlabeled_text_has_no_fidelity_set_and_keeps_its_transfer_key(tmp_path, sst2_small,
                                                                                      tiny_teacher):
    from taskdistil.pipeline import Run, transfer_stage

    config = load_config(tiny_config(tmp_path, sst2_small, tiny_teacher))
    manifest = transfer_stage(Run(config))
    assert "heldout" not in manifest["inputs"]["transfer"]  # keys (and annotations) of such runs stay valid
    assert not (Run(config).transfer_dir / "heldout.jsonl").exists()
    from taskdistil.exam.fidelity import load_fidelity_set

    assert load_fidelity_set(Run(config)) is None


def test_a_fidelity_file_is_sampled_and_checked(tmp_path, sst2_small, tiny_teacher):
    from taskdistil.exam.fidelity import load_fidelity_set
    from taskdistil.pipeline import Run

    (sst2_small / "fid.txt").write_text("".join(f"text number {i}\n" for i in range(50)))
    config = load_config(tiny_config(tmp_path, sst2_small, tiny_teacher,
                                     exam={"fidelity": {"path": "fid.txt", "max_examples": 20}}))
    fid = load_fidelity_set(Run(config))
    assert len(fid.texts) == 20 and fid.available == 50 and fid.texts == sorted(fid.texts, key=lambda t: int(t[12:]))
    with pytest.raises(ConfigError, match="exam.fidelity.path: file not found"):
        load_config(tiny_config(tmp_path, sst2_small, tiny_teacher, exam={"fidelity": {"path": "nope.txt"}}))
    with pytest.raises(ConfigError, match="exam.fidelity.paths: unknown key"):
        load_config(tiny_config(tmp_path, sst2_small, tiny_teacher, exam={"fidelity": {"paths": "fid.txt"}}))


def test_bootstrap_reproduces_the_teacher_gap_loop():
    rng = np.random.default_rng(3)
    teacher = rng.random(500) < 0.8
    students = rng.random((3, 500)) < 0.78
    draws = np.random.default_rng(0)
    gaps = [students[:, idx].mean() - teacher[idx].mean() for idx in (draws.integers(0, 500, 500) for _ in range(2000))]
    found = intervals({"gap": students.mean(0) - teacher}, resamples=2000, seed=0)["gap"]
    np.testing.assert_allclose(found["ci95"], np.percentile(gaps, [2.5, 97.5]), atol=1e-6)
    assert found["value"] == pytest.approx(students.mean() - teacher.mean())


def test_trained_without_teacher_and_majority_ties():
    assert trained_without_teacher(student_config(loss={"hard_weight": 1.0}))
    assert trained_without_teacher(student_config(stages=[{"objective": "hard_labels"}]))
    assert not trained_without_teacher(student_config(loss={"hard_weight": {"start": 1.0, "end": 0.5}}))
    assert not trained_without_teacher(student_config(stages=[{"objective": "representation"},
                                                             {"objective": "hard_labels"}]))
    assert not trained_without_teacher(student_config())
    assert majority_class(np.array([2, 0, 2, 0, 1]), 3) == 0  # a tie goes to the first label


def _row(label, acc, lo, hi, size):
    return {"label": label, "role": "student", "metrics": {"accuracy": acc}, "retention": 1.0, "disk_bytes": size,
            "vs_majority": {"difference": acc - 0.5, "ci95": [lo, hi], "better": lo > 0,
                            "verdict": "better than the majority class" if lo > 0 else
                            "not better than the majority class"},
            "vs_teacher": {"difference": -0.01, "ci95": [-0.03, 0.01],
                           "verdict": "not distinguishable from the teacher"}}


def test_the_recommendation_passes_over_students_without_skill():
    report = {"primary_metric": "accuracy", "baselines": {"majority": {"label": "pos", "metrics": {"accuracy": 0.5}}},
              "models": [_row("a (torch)", 0.56, -0.01, 0.12, 1e6), _row("b (torch)", 0.54, 0.01, 0.08, 2e6)]}
    rec = recommend(report)
    assert rec["chosen"] == "b (torch)"
    assert "not better than the majority class" in rec["rejected"]["a (torch)"]
    assert "not distinguishable from the teacher" in rec["reason"] and "over the majority class" in rec["reason"]
