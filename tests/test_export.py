"""ONNX export: the export forward equals the training forward, ONNX equals PyTorch on shapes
never traced, int8 files load and stay close, exported directories load in every runtime."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import taskdistil
from taskdistil.errors import ArtifactError
from taskdistil.export import package
from taskdistil.export.onnx import export_onnx, max_abs_diff, quantize_int8
from taskdistil.export.runtime import OnnxForward
from taskdistil.students.bilstm import BiLSTMConfig, BiLSTMStudent
from taskdistil.students.cnn import CNNConfig, CNNStudent
from taskdistil.train.batching import pad_ids

# lengths 1..9 in one batch, and shapes the traced example never had
ENCODED = [[(7 * i + j) % 97 + 3 for j in range(1 + i % 9)] for i in range(40)]
TRACE = [ENCODED[0], ENCODED[4], ENCODED[8]]


def _bilstm(**kw) -> BiLSTMStudent:
    torch.manual_seed(0)
    return BiLSTMStudent(BiLSTMConfig(vocab_size=100, num_labels=3, embedding_dim=12, hidden_size=8, fc_dim=8,
                                      **kw)).eval()


def _logits(model):
    return lambda ids, mask: model(ids, mask).logits


@pytest.mark.parametrize("pooling", ["last", "max", "mean"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("mode", ["tuned", "multichannel"])
def test_bilstm_export_forward_equals_packed_forward(pooling, num_layers, mode):
    model = _bilstm(pooling=pooling, num_layers=num_layers, embedding_mode=mode)
    with torch.inference_mode():
        for batch in (ENCODED, ENCODED[:1], ENCODED[5:6] * 3):
            ids, mask = pad_ids(batch, 0)
            expected = model(ids, mask).logits
            assert torch.allclose(model.export_forward(ids, mask), expected, atol=1e-6), (pooling, num_layers)


@pytest.mark.parametrize("make", [lambda: _bilstm(pooling="last", num_layers=2), lambda: _bilstm(pooling="max"),
                                  lambda: CNNStudent(CNNConfig(vocab_size=100, num_labels=3, embedding_dim=12,
                                                               num_filters=4)).eval()],
                         ids=["bilstm-last-2layers", "bilstm-max", "cnn"])
def test_student_onnx_equals_pytorch_on_untraced_shapes(tmp_path, make):
    model = make()
    path = export_onnx(model, tmp_path / "m.onnx", TRACE, 0)
    assert not model.training
    onnx_forward = OnnxForward(path)
    assert max_abs_diff(_logits(model), onnx_forward, ENCODED, 0, batch_size=7) <= 1e-5
    one_token = pad_ids([[5]], 0)  # shorter than the CNN's widest filter
    assert torch.allclose(onnx_forward(*one_token), model(*one_token).logits, atol=1e-5)


def test_teacher_onnx_and_int8(tmp_path, tiny_teacher):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_teacher, num_labels=2).eval()
    forward = lambda ids, mask: model(input_ids=ids, attention_mask=mask).logits  # noqa: E731
    fp32 = export_onnx(model, tmp_path / "t.onnx", TRACE, 0)
    int8 = quantize_int8(fp32, tmp_path / "t.int8.onnx")
    assert max_abs_diff(forward, OnnxForward(fp32), ENCODED, 0) <= 1e-5
    diff8 = max_abs_diff(forward, OnnxForward(int8), ENCODED, 0)
    assert 0 < diff8 < 0.1  # quantized: not identical, still close
    assert int8.stat().st_size < 0.6 * fp32.stat().st_size


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_teacher):
    """A saved BiLSTM student exported with real texts."""
    from transformers import AutoTokenizer

    from taskdistil.artifact import save_student
    from taskdistil.students.tokenizer import WordPieceTokenizer

    root = tmp_path_factory.mktemp("export")
    tokenizer = WordPieceTokenizer.from_teacher(AutoTokenizer.from_pretrained(tiny_teacher), max_length=32)
    torch.manual_seed(0)
    model = BiLSTMStudent(BiLSTMConfig(vocab_size=tokenizer.vocab_size, num_labels=2, embedding_dim=16,
                                       hidden_size=8, fc_dim=8)).eval()
    save_student(root / "student", model, tokenizer, ["negative", "positive"], "single_sentence", {})
    texts = ["a gorgeous , witty , seductive movie .", "bad", "it 's a charming and often affecting journey ."] * 5
    meta = package.export_model(root / "student", root / "exported", texts)
    return root, texts, meta


def test_exported_directory_loads_in_every_runtime(exported):
    root, texts, meta = exported
    out = root / "exported"
    assert {"model.safetensors", "model.onnx", "model.int8.onnx", "export.json", "config.json"} <= {
        p.name for p in out.iterdir()}
    assert json.loads((out / "export.json").read_text())["parity"]["onnx_max_abs_diff"] <= 1e-4
    assert meta["parity"]["texts"] == len(texts) and meta["labels"] == ["negative", "positive"]
    torch_model = taskdistil.load(out)
    onnx_model = taskdistil.load(out, runtime="onnx", threads=1)
    int8_model = taskdistil.load(out, runtime="onnx-int8", threads=1)
    assert onnx_model.model is None and onnx_model.runtime == "onnx"
    np.testing.assert_allclose(onnx_model.logits(texts), torch_model.logits(texts), atol=1e-5)
    assert np.abs(int8_model.logits(texts) - torch_model.logits(texts)).max() < 0.1
    assert onnx_model.predict(texts) == torch_model.predict(texts)
    assert not (root / "exported.partial").exists()


def test_onnx_inference_needs_neither_torch_nor_transformers(exported):
    import subprocess
    import sys

    out = exported[0] / "exported"
    code = ("import sys, taskdistil; m = taskdistil.load(sys.argv[1], runtime='onnx-int8', threads=1); "
            "print(m.predict(['a witty movie', 'dull'])); "
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'imported'")
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in {str([a, b]) for a in ("negative", "positive") for b in ("negative", "positive")}


def test_runtime_sizes_count_one_weights_file(exported):
    out = exported[0] / "exported"
    sizes = {r: package.runtime_size_bytes(out, r) for r in ("torch", "onnx", "onnx-int8")}
    shared = sizes["torch"] - (out / "model.safetensors").stat().st_size
    assert sizes["onnx"] == shared + (out / "model.onnx").stat().st_size
    assert sizes["onnx-int8"] == shared + (out / "model.int8.onnx").stat().st_size
    assert sizes["onnx-int8"] < sizes["onnx"]


def test_load_errors_name_the_problem(exported, tmp_path):
    root = exported[0]
    with pytest.raises(ArtifactError, match="taskdistil export"):
        taskdistil.load(root / "student", runtime="onnx")  # saved, never exported
    with pytest.raises(ArtifactError, match="runtime 'tensorrt'"):
        taskdistil.load(root / "exported", runtime="tensorrt")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((root / "exported" / "config.json").read_text())
    (broken / "model.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(ArtifactError, match="onnxruntime cannot load it"):
        taskdistil.load(broken, runtime="onnx")


def test_failed_parity_check_exports_nothing(exported, tmp_path, monkeypatch):
    root, texts, _ = exported
    monkeypatch.setattr(package, "max_abs_diff", lambda *a, **k: 0.5)
    with pytest.raises(ArtifactError, match="differs from PyTorch by 5.00e-01"):
        package.export_model(root / "student", tmp_path / "out", texts)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()
