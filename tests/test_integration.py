"""The whole pipeline on the embedded MiniLM teacher and a few hundred real SST-2 rows.

Recipe sizes were measured on this data slice (300 train / 80 dev / 100 test rows, test
majority rate 0.52): one teacher epoch at lr 5e-5 (19 steps, linear decay) leaves MiniLM
predicting the majority class, so the teacher gets 3 epochs at 1e-4 (test accuracy 0.71-0.75
over seeds 1-2); a BiLSTM student needs ~100 steps to move off the constant prediction
(batch 16, 6 epochs, no early stopping: test accuracy 0.64). Torch runs one thread: on a
shared 2-core machine two threads are several times slower.
"""

from __future__ import annotations

import pytest
import yaml

from taskdistil.cli import main
from taskdistil.io import read_json

pytestmark = pytest.mark.slow



def test_embedded_minilm_pipeline_end_to_end(tmp_path, sst2_small):
    tree = {
        "name": "minilm",
        "run_dir": str(tmp_path / "run"),
        "seed": 1,
        "data": {"dir": str(sst2_small), "train": "sst2/train.tsv", "dev": "sst2/dev.tsv", "test": "sst2/test.tsv"},
        "teacher": {"model": "embedded:minilm-l6", "max_length": 64,
                    "train": {"epochs": 3, "batch_size": 16, "learning_rate": 1e-4}},
        "students": [{"name": "bilstm", "train": {"epochs": 6, "batch_size": 16, "patience": None}}],
        "exam": {"warmup": 2, "max_batches": 9, "max_seconds": 1.0, "threads": [1], "batch_sizes": [1, 32],
                 "reference_batch_sizes": [1], "memory_batch_size": 8},
    }
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(tree))

    assert main(["run", str(config)]) == 0

    run_dir = tmp_path / "run"
    assert "| bilstm | onnx-int8 |" in (run_dir / "report.md").read_text()
    report = read_json(run_dir / "report.json")
    models = {m["label"]: m for m in report["models"]}
    teacher, student = models["teacher (torch)"], models["bilstm (torch)"]
    print({label: (m["metrics"], m["ratios"]["vs_teacher"]) for label, m in models.items()})

    test_labels = [line.rsplit("\t", 1)[1] for line in
                   (sst2_small / "sst2" / "test.tsv").read_text().splitlines()[1:]]
    majority = max(test_labels.count(label) for label in set(test_labels)) / len(test_labels)
    assert report["test"]["examples"] == len(test_labels) == 100

    # A teacher that did not learn (or a broken head / label map) sits at or below the
    # majority rate (0.52); the fine-tuned one reaches 0.71-0.75.
    assert teacher["metrics"]["accuracy"] > 0.6
    # The student beats chance and the constant (majority) predictor.
    assert student["metrics"]["accuracy"] > 0.5
    assert student["metrics"]["accuracy"] > majority
    assert student["ratios"]["vs_teacher"]["1"]["1"] > 1.0
    assert student["parameters"] < teacher["parameters"]
    assert teacher["kind"] == "teacher" and student["kind"] == "bilstm"
    assert teacher["metrics"]["accuracy"] == pytest.approx(
        read_json(run_dir / "exam" / "manifest.json")["outputs"]["models"]["teacher (torch)"]["accuracy"])

    # ONNX: fp32 equal to PyTorch; int8 close; the real MiniLM is smaller and faster in int8
    for name in ("teacher", "bilstm"):
        assert models[f"{name} (onnx)"]["parity_max_abs_diff"] <= 1e-4
        assert models[f"{name} (onnx)"]["metrics"] == models[f"{name} (torch)"]["metrics"]
        assert abs(models[f"{name} (onnx-int8)"]["int8_drop"]) <= 0.05
    assert models["teacher (onnx-int8)"]["disk_bytes"] < 0.5 * teacher["disk_bytes"]
    # the BERT-base-size reference (110M parameters) is slower than the 6-layer MiniLM
    reference = models["bert-base-reference (torch)"]
    assert reference["metrics"] is None and reference["parameters"] > 100_000_000
    assert reference["latency"]["1"]["1"]["p50_ms"] > teacher["latency"]["1"]["1"]["p50_ms"]
    assert teacher["ratios"]["vs_reference"]["1"]["1"] > 1.0
    # memory of a fresh process: the eager teacher (torch, transformers, 90 MB of weights) needs
    # more than the int8 student (onnxruntime only); both above the bare interpreter baseline
    for m in models.values():
        assert m["memory"]["peak_rss_bytes"] > m["memory"]["baseline_rss_bytes"] > 10_000_000
        assert m["memory"]["torch_imported"] == (m["runtime"] == "torch")
    assert teacher["memory"]["peak_rss_bytes"] > models["bilstm (onnx-int8)"]["memory"]["peak_rss_bytes"]
    html = (run_dir / "report.html").read_text()
    assert 'id="plot-quality-latency"' in html and "data:image/png;base64," in html
    assert (run_dir / "export" / "bilstm" / "model" / "README.md").is_file()
