"""Every student kind (bilstm, cnn, transformer, hf, static) end to end on a sentence-pair task and a multi-aspect
task: one ``taskdistil run`` each (tiny random teacher, teacher training, annotation, every student trained,
exported to ONNX with parity, examined), then every exported model loaded and predicting alike in torch and ONNX."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pytest
import yaml

import taskdistil
from taskdistil.cli import main
from taskdistil.errors import DataError
from taskdistil.io import read_json
from taskdistil.students.registry import STUDENT_KINDS

from conftest import _slice_tsv

FAST = {"epochs": 1, "batch_size": 16, "learning_rate": 1e-2, "optimizer": "adam"}
EXAM = {"warmup": 1, "max_batches": 3, "max_seconds": 0.1, "threads": [1], "batch_sizes": [1, 8],
        "reference": "none", "memory": False}
PAIRS = [("The cat sat on the mat.", "A cat was sitting on the mat."), ("He left early.", "She stayed late.")]
ASPECT_TEXTS = ["mobil irit tapi mahal", "servis ramah sekali", "x"]
ASPECTS = ("fuel", "price")


def _students(checkpoint) -> list[dict]:
    """One small student of each kind; the hf student adopts the tiny teacher's directory as its checkpoint."""
    return [
        {"name": "bilstm", "kind": "bilstm", "embedding_dim": 16, "hidden_size": 8, "fc_dim": 8, "train": FAST},
        {"name": "cnn", "kind": "cnn", "embedding_dim": 16, "num_filters": 4, "filter_widths": [2, 3],
         "loss": {"soft": "kl", "hard_weight": 0.5}, "train": FAST},
        {"name": "tf", "kind": "transformer", "layers": 2, "loss": {"pkd_weight": 1.0},
         "train": {"epochs": 1, "batch_size": 16}},
        {"name": "hf", "kind": "hf", "checkpoint": str(checkpoint), "layers": 1,
         "train": {"epochs": 1, "batch_size": 16}},
        {"name": "static", "kind": "static", "embeddings": "model2vec", "embedding_dim": 16, "hidden_layer": 8,
         "token_weights": "learned", "train": FAST},
    ]


def _run(tmp_path, data: dict, teacher) -> Path:
    tree = {"name": "kinds", "run_dir": str(tmp_path / "run"), "seed": 1, "data": data,
            "teacher": {"model": str(teacher), "max_length": 48,
                        "train": {"epochs": 1, "batch_size": 16, "learning_rate": 1e-3}},
            "transfer": {"augment": {"n_iter": 1, "pos": "none"}},
            "annotate": {"batch_size": 64, "shard_size": 128},
            "students": _students(teacher), "exam": EXAM}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    assert main(["run", str(path)]) == 0
    return tmp_path / "run"


def _check_run(run, task: str, inputs: list) -> None:
    assert set(STUDENT_KINDS) == {"bilstm", "cnn", "transformer", "hf", "static"}  # a new kind joins this test
    report = read_json(run / "report.json")
    assert report["task"] == task
    models = {m["label"]: m for m in report["models"]}
    kinds = {}
    for name in ("bilstm", "cnn", "tf", "hf", "static"):
        assert read_json(run / "students" / name / "manifest.json")["status"] == "complete", name
    for name in ("teacher", "bilstm", "cnn", "tf", "hf", "static"):
        assert models[f"{name} (onnx)"]["parity_max_abs_diff"] <= 1e-4, name
        assert models[f"{name} (onnx)"]["metrics"] == models[f"{name} (torch)"]["metrics"], name
        assert models[f"{name} (torch)"]["latency"]["1"]["1"]["p50_ms"] > 0
        assert models[f"{name} (onnx-int8)"]["latency"]["1"]["8"]["p50_ms"] > 0
        model_dir = run / "export" / name / "model"
        eager, onnx = taskdistil.load(model_dir), taskdistil.load(model_dir, runtime="onnx", threads=1)
        np.testing.assert_allclose(onnx.logits(inputs), eager.logits(inputs), rtol=0, atol=1e-4)
        assert onnx.predict(inputs) == eager.predict(inputs) and len(eager.predict(inputs)) == len(inputs)
        kinds[name] = eager.kind
    assert kinds == {"teacher": "teacher", "bilstm": "bilstm", "cnn": "cnn", "tf": "transformer", "hf": "hf",
                     "static": "static"}


def test_every_student_kind_on_sentence_pairs(tmp_path, shared_data, tiny_teacher):
    """Real MRPC pairs (60 train / 24 dev / 24 test, BOM and header as shipped)."""
    for name, rows in (("train.tsv", 60), ("dev.tsv", 24), ("msr_paraphrase_test.txt", 24)):
        _slice_tsv(shared_data / "mrpc" / name, tmp_path / "data" / name, rows)
    data = {"dir": str(tmp_path / "data"), "task": "sentence_pair", "train": "train.tsv", "dev": "dev.tsv",
            "test": "msr_paraphrase_test.txt", "text_column": "#1 String", "text_b_column": "#2 String",
            "label_column": "Quality", "too_long": "truncate"}
    run = _run(tmp_path, data, tiny_teacher)
    _check_run(run, "sentence_pair", [list(p) for p in PAIRS])
    for name in ("bilstm", "cnn", "static"):  # siamese: each sentence read alone
        assert read_json(run / "students" / name / "model" / "config.json")["model"]["pair"] is True, name
    with pytest.raises(DataError, match="a sentence-pair model takes pairs"):
        taskdistil.load(run / "export" / "static" / "model").predict(["a single text"])


def test_every_student_kind_on_multi_aspect(tmp_path, tiny_teacher):
    """A synthetic two-aspect CSV: 'irit'/'boros' cue fuel, 'murah'/'mahal' cue price."""
    rng, cues = random.Random(0), {"fuel": ("irit", "boros"), "price": ("murah", "mahal")}
    (tmp_path / "data").mkdir()
    for split, n in (("train", 60), ("dev", 16), ("test", 16)):
        with (tmp_path / "data" / f"{split}.csv").open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["sentence", *ASPECTS])
            for _ in range(n):
                words, labels = rng.sample(["mobil", "ini", "saya", "dan", "juga", "pakai"], 3), []
                for aspect in ASPECTS:
                    pick = rng.randrange(3)
                    labels.append(("positive", "negative", "neutral")[pick])
                    if pick < 2:
                        words.insert(rng.randrange(len(words) + 1), cues[aspect][pick])
                writer.writerow([" ".join(words), *labels])
    data = {"dir": str(tmp_path / "data"), "task": "multi_aspect", "train": "train.csv", "dev": "dev.csv",
            "test": "test.csv", "aspect_columns": list(ASPECTS)}
    run = _run(tmp_path, data, tiny_teacher)
    _check_run(run, "multi_aspect", ASPECT_TEXTS)
    predicted = taskdistil.load(run / "export" / "static" / "model").predict(ASPECT_TEXTS)
    assert [sorted(p) for p in predicted] == [sorted(ASPECTS)] * len(ASPECT_TEXTS)
    assert all(p[a] in ("negative", "neutral", "positive") for p in predicted for a in ASPECTS)
