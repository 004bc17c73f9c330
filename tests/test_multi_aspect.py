"""Multi-aspect classification end to end on a tiny random teacher and a small synthetic CSV: reading and errors,
the per-aspect loss rows, `taskdistil run` (teacher, annotation, BiLSTM and CNN students, export, exam) and
predict."""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from taskdistil.artifact import load
from taskdistil.cli import main
from taskdistil.config import load_config
from taskdistil.errors import ConfigError, DataError
from taskdistil.losses import SoftKL
from taskdistil.tasks import task_kind
from taskdistil.tasks.multi_aspect import AspectLabels
from taskdistil.teacher.aspects import aspect_rows

CUES = {"fuel": ({"irit": "positive", "boros": "negative"}, "neutral"),
        "price": ({"murah": "positive", "mahal": "negative"}, "neutral"),
        "service": ({"ramah": "positive"}, "neutral")}  # service: a 2-label set (unequal widths)
FILLER = ["mobil", "ini", "saya", "dan", "juga", "sekali", "nya", "pakai"]


def _rows(rng: random.Random, n: int) -> list[list[str]]:
    rows = []
    for _ in range(n):
        words, labels = rng.sample(FILLER, 3), []
        for cues, default in CUES.values():
            cue = rng.choice([*cues, None])
            labels.append(cues[cue] if cue else default)
            if cue:
                words.insert(rng.randrange(len(words) + 1), cue)
        rows.append([" ".join(words) + " , ok", *labels])  # a comma: a quoted CSV field
    return rows


def _write(path, rows, header=("sentence", *CUES, "note")) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows([*row, "x"] if len(row) == len(header) - 1 else row for row in rows)


@pytest.fixture(scope="module")
def aspect_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("aspects")
    rng = random.Random(0)
    for name, n in (("train", 80), ("dev", 20), ("test", 20)):
        _write(root / f"{name}.csv", _rows(rng, n))
    return root


def _config(tmp_path, data_dir, teacher, **data) -> str:
    tree = {
        "name": "aspects", "run_dir": str(tmp_path / "run"), "seed": 1,
        "data": {"task": "multi_aspect", "dir": str(data_dir), "train": "train.csv", "dev": "dev.csv",
                 "test": "test.csv", "aspect_columns": list(CUES), **data},
        "teacher": {"model": str(teacher), "max_length": 32,
                    "train": {"epochs": 2, "batch_size": 8, "learning_rate": 1e-3}},
        "annotate": {"batch_size": 16, "shard_size": 32},
        "students": [
            {"name": "bilstm", "kind": "bilstm", "embedding_dim": 16, "hidden_size": 8, "fc_dim": 8,
             "train": {"epochs": 3, "batch_size": 8, "learning_rate": 1e-2, "optimizer": "adam"}},
            {"name": "cnn", "kind": "cnn", "embedding_dim": 16, "num_filters": 4, "filter_widths": [2, 3],
             "loss": {"soft": "kl", "hard_weight": 0.5},
             "train": {"epochs": 3, "batch_size": 8, "learning_rate": 1e-2, "optimizer": "adam"}},
            {"name": "tf", "kind": "transformer", "layers": 2, "loss": {"pkd_weight": 1.0},  # Patient KD path
             "train": {"epochs": 1, "batch_size": 16}}],
        "exam": {"warmup": 1, "max_batches": 3, "max_seconds": 0.2, "threads": [1], "batch_sizes": [1, 32],
                 "reference": "none", "memory": False},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return str(path)


def test_reads_aspects_and_label_sets(tmp_path, aspect_data, tiny_teacher):
    data = task_kind("multi_aspect").load(load_config(_config(tmp_path, aspect_data, tiny_teacher)))
    assert data.labels.aspects == ("fuel", "price", "service")
    assert data.labels.sets[2] == ("neutral", "positive")
    assert len(data.labels) == 8 and data.labels.labels[0] == "fuel=negative"
    assert data.gold("test").shape == (20, 3) and data.train.texts[0].endswith(", ok")
    # no aspect_columns: every column except the text (here also "note", a one-label column: refused)
    every = load_config(_config(tmp_path, aspect_data, tiny_teacher, aspect_columns=None))
    with pytest.raises(DataError, match="'note' has 1 distinct label"):
        task_kind("multi_aspect").load(every)


def test_unseen_label_names_file_line_and_aspect(tmp_path, aspect_data, tiny_teacher):
    rows = _rows(random.Random(3), 5)
    rows[3][3] = "negative"  # service never negative in training
    _write(tmp_path / "dev.csv", rows)
    for name in ("train", "test"):
        (tmp_path / f"{name}.csv").write_text((aspect_data / f"{name}.csv").read_text())
    config = load_config(_config(tmp_path, tmp_path, tiny_teacher))
    with pytest.raises(DataError, match=r"dev\.csv, line 5: label 'negative' in aspect column 'service'"):
        task_kind("multi_aspect").load(config)


def test_config_errors(tmp_path, aspect_data, tiny_teacher, sst2_small):
    from conftest import tiny_config

    config = load_config(_config(tmp_path, aspect_data, tiny_teacher, aspect_columns=["fuel", "engine"]))
    with pytest.raises(DataError, match=r"train\.csv, line 1: no column 'engine' of data.aspect_columns"):
        task_kind("multi_aspect").load(config)
    data = {"dir": str(sst2_small), "train": "sst2/train.tsv", "dev": "sst2/dev.tsv", "test": "sst2/test.tsv",
            "aspect_columns": ["fuel"]}
    with pytest.raises(ConfigError, match="aspect_columns is a setting of task 'multi_aspect'"):
        load_config(tiny_config(tmp_path, sst2_small, tiny_teacher, data=data))


def test_external_teacher_refused(tmp_path, aspect_data, tiny_teacher):
    path = _config(tmp_path, aspect_data, tiny_teacher)
    tree = yaml.safe_load(open(path))
    tree["teacher"] = {"outputs": str(tmp_path / "outputs.jsonl")}
    tree["students"] = tree["students"][:1]
    (tmp_path / "external.yaml").write_text(yaml.safe_dump(tree), encoding="utf-8")
    with pytest.raises(ConfigError, match="task 'multi_aspect' .* not supported for external teachers"):
        load_config(str(tmp_path / "external.yaml"))


def test_loss_rows_are_per_aspect_slices():
    labels = AspectLabels(("a", "b"), (("n", "p"), ("neg", "neu", "pos")))
    order = ["b=pos", "a=n", "b=neg", "a=p", "b=neu"]  # a model's own column order
    index = torch.as_tensor(labels.row_index(order))
    z_s, z_t = torch.randn(4, 5), torch.randn(4, 5)
    rows_s, rows_t = aspect_rows(z_s, index), aspect_rows(z_t, index)
    assert rows_s.shape == (8, 3)
    assert torch.equal(rows_s[1], z_s[0, [2, 4, 0]])  # example 0, aspect b in label-set order
    per_aspect = [torch.as_tensor(c) for c in labels.columns(order)]
    expected = sum(SoftKL(2.0)(z_s[:, c], z_t[:, c]) for c in per_aspect) / 2  # (1/A) sum_a KL_a
    assert torch.allclose(SoftKL(2.0)(rows_s, rows_t) * 2, expected * 2, atol=1e-5)  # batchmean over B*A rows
    y = torch.tensor([[0, 2], [1, 0], [1, 1], [0, 0]])
    ce = sum(F.cross_entropy(z_s[:, c], y[:, a]) for a, c in enumerate(per_aspect)) / 2
    assert torch.allclose(F.cross_entropy(rows_s, y.reshape(-1)), ce, atol=1e-5)


def test_multi_aspect_end_to_end(tmp_path, aspect_data, tiny_teacher, capsys):
    path = _config(tmp_path, aspect_data, tiny_teacher)
    assert main(["run", path]) == 0
    run_dir = load_config(path).resolved_run_dir()
    shards = json.loads((run_dir / "annotations" / "shards.json").read_text())
    assert "offsets" not in shards  # one row per example: the concatenated per-aspect logits
    assert np.load(run_dir / "annotations" / "logits-00000.npy").shape[1] == 8
    measurements = json.loads((run_dir / "exam" / "measurements.json").read_text())
    assert measurements["primary_metric"] == "macro_f1"
    for row in measurements["models"]:
        m = row["metrics"]
        assert 0.0 <= m["macro_f1"] <= 1.0
        assert m["accuracy"] == pytest.approx(np.mean([m[f"{a}_accuracy"] for a in CUES]))
    # the majority baseline answers each aspect's most frequent training label; rows carry intervals against it
    majority = measurements["baselines"]["majority"]
    assert sorted(part.split("=")[0] for part in majority["label"].split(", ")) == sorted(CUES)
    assert measurements["intervals"]["metric"] == "macro_f1"
    for row in measurements["models"]:
        verdict = row["vs_majority"]
        assert verdict["difference"] == pytest.approx(row["metrics"]["macro_f1"] - majority["metrics"]["macro_f1"])
        assert verdict["ci95"][0] <= verdict["difference"] <= verdict["ci95"][1]
    texts = ["mobil irit tapi mahal", "saya pakai ramah"]
    for name in ("bilstm", "cnn", "tf", "teacher"):
        model = load(run_dir / "export" / name / "model")
        predicted = model.predict(texts)
        assert [sorted(p) for p in predicted] == [sorted(CUES)] * 2
        assert all(p["service"] in ("neutral", "positive") for p in predicted)
        onnx = load(run_dir / "export" / name / "model", runtime="onnx")
        assert onnx.predict(texts) == predicted
        assert np.allclose(onnx.logits(texts), model.logits(texts), atol=1e-4)
        proba = model.predict_proba(texts)[0]
        assert all(sum(p.values()) == pytest.approx(1.0, abs=1e-5) for p in proba.values())
    capsys.readouterr()
    assert main(["predict", str(run_dir / "export" / "bilstm" / "model"), "--proba", *texts]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines] == texts
    assert all(set(line["labels"]) == set(CUES) and set(line["proba"]) == set(CUES) for line in lines)
