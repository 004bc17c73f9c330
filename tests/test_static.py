"""Static-embedding student: shapes, padding, SIF and learned token weights, the model2vec-style table, config
errors, and end to end through the pipeline (training on the teacher's logits, save/load/predict, ONNX parity)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

import taskdistil
from taskdistil.cli import main
from taskdistil.config import load_config
from taskdistil.errors import ConfigError
from taskdistil.export.onnx import export_onnx, max_abs_diff, quantize_int8
from taskdistil.export.runtime import OnnxForward
from taskdistil.io import load_tensors, read_json
from taskdistil.student_config import student_config
from taskdistil.student_key import student_settings
from taskdistil.students.embeddings import pca_reduce, vocabulary_embeddings
from taskdistil.students.registry import build_student
from taskdistil.students.static import bigram_ids, sif_weights, token_counts
from taskdistil.train.batching import pad_ids
from tests.conftest import tiny_config

ENCODED = [[(7 * i + j) % 97 + 3 for j in range(1 + i % 9)] for i in range(40)]  # lengths 1..9


def _static(**settings):
    torch.manual_seed(0)
    return build_student("static", vocab_size=100, num_labels=3, embedding_dim=12, **settings).eval()


@pytest.mark.parametrize("hidden_layer", [None, 8])
def test_logits_and_pooled_shapes(hidden_layer):
    model = _static(hidden_layer=hidden_layer)
    ids = torch.randint(1, 100, (5, 9))
    out = model(ids, torch.ones_like(ids))
    assert out.logits.shape == (5, 3) and out.pooled.shape == (5, 12)
    assert (model.hidden is None) == (hidden_layer is None)
    pairs = _static(pair=True)(*pad_ids([([3, 4, 5], [6, 7]), ([8], [9, 10, 11])]))
    assert pairs.logits.shape == (2, 3) and pairs.pooled.shape == (2, 48)  # [h1, h2, h1 * h2, |h1 - h2|]


@pytest.mark.parametrize("weights", ["sif", "learned", "none"])
def test_pooling_ignores_padding(weights):
    model = _static(token_weights=weights, hidden_layer=4)
    model.set_token_frequencies(np.arange(100))
    with torch.no_grad():
        alone = [model(*pad_ids([ids])).logits for ids in ENCODED[:9]]
        together = model(*pad_ids(ENCODED[:9])).logits  # padded to 9 tokens
    torch.testing.assert_close(torch.cat(alone), together, rtol=0, atol=1e-6)


def test_sif_weights_and_weighted_mean():
    counts = token_counts([[1, 2, 2], ([2, 3], [3, 3, 3]), [2]], vocab_size=5)  # a pair counts both texts
    assert counts.tolist() == [0, 1, 4, 4, 0]
    a = 0.1
    weights = sif_weights(counts, a)
    expected = [1.0, a / (a + 1 / 9), a / (a + 4 / 9), a / (a + 4 / 9), 1.0]  # unseen tokens: 1
    torch.testing.assert_close(weights, torch.tensor(expected), rtol=1e-6, atol=0)

    model = build_student("static", vocab_size=5, num_labels=2, embedding_dim=3, sif_a=a).eval()
    model.set_token_frequencies(counts)
    ids = torch.tensor([[1, 2]])
    table = model.embedding.weight.detach()
    w1, w2 = expected[1], expected[2]
    manual = (w1 * table[1] + w2 * table[2]) / (w1 + w2)  # the rarer token 1 counts more
    torch.testing.assert_close(model(ids, torch.ones_like(ids)).pooled[0], manual, rtol=1e-5, atol=1e-6)
    assert model.log_weight.weight.requires_grad is False


def test_token_weights_none_is_a_plain_mean_and_learned_weights_train():
    plain = _static(token_weights="none")
    plain.set_token_frequencies(np.arange(100))  # ignored: w = 1
    ids = torch.tensor([[5, 6, 7]])
    torch.testing.assert_close(plain(ids, torch.ones_like(ids)).pooled[0], plain.embedding.weight[5:8].mean(0))

    learned = _static(token_weights="learned").train()
    learned.set_token_frequencies(np.arange(100))
    before = learned.log_weight.weight.detach().clone()
    assert learned.log_weight.weight.requires_grad
    learned(ids, torch.ones_like(ids)).logits.sum().backward()
    grad = learned.log_weight.weight.grad
    assert grad[5:8].abs().sum() > 0 and grad[8:].abs().sum() == 0  # only the batch's tokens
    torch.testing.assert_close(before[10:12, 0], torch.log(sif_weights(np.arange(100), 1e-3))[10:12])


def test_model2vec_table_is_the_teachers_mean_state_of_each_token_and_deterministic(tiny_teacher):
    from transformers import AutoModel

    teacher = AutoModel.from_pretrained(tiny_teacher).eval()
    table = vocabulary_embeddings(teacher, 300, [101], [102], batch_size=64)  # 300 ids, batches of 64
    assert table.shape == (300, 32)
    with torch.no_grad():
        one = teacher(input_ids=torch.tensor([[101, 250, 102]])).last_hidden_state.mean(1)[0]
    torch.testing.assert_close(table[250], one, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(vocabulary_embeddings(teacher, 300, [101], [102], batch_size=300), table,
                               rtol=0, atol=1e-5)
    reduced = pca_reduce(table, 8)
    assert reduced.shape == (300, 8)
    torch.testing.assert_close(reduced.mean(0), torch.zeros(8), rtol=0, atol=1e-4)  # centred
    variances = reduced.var(0)
    assert (variances[:-1] >= variances[1:] - 1e-5).all()  # principal axes in order
    torch.testing.assert_close(pca_reduce(table.flip(0), 8).flip(0), reduced, rtol=0, atol=1e-4)  # no sign flips
    with pytest.raises(ConfigError, match="embedding_dim 64 exceeds the teacher's hidden size 32"):
        pca_reduce(table, 64)


@pytest.mark.parametrize("settings", [{}, {"hidden_layer": 8, "token_weights": "learned"},
                                      {"embedding_mode": "multichannel"}, {"pair": True},
                                      {"bigram_buckets": 64, "hidden_layer": 8}])
def test_onnx_fp32_and_int8_match_pytorch(tmp_path, settings):
    model = _static(**settings)
    model.set_token_frequencies(np.arange(100))
    if model.bigrams is not None:
        with torch.no_grad():
            model.bigrams.weight.normal_()  # trained bigrams: the hash must agree in ONNX
    encoded = [(ids, ENCODED[-1 - i]) for i, ids in enumerate(ENCODED)] if settings.get("pair") else ENCODED
    fp32 = export_onnx(model, tmp_path / "m.onnx", [encoded[0], encoded[4], encoded[8]], 0)
    int8 = quantize_int8(fp32, tmp_path / "m.int8.onnx")

    def logits(ids, mask):
        return model(ids, mask).logits

    assert max_abs_diff(logits, OnnxForward(fp32), encoded, 0, batch_size=7) <= 1e-5
    assert max_abs_diff(logits, OnnxForward(int8), encoded, 0, batch_size=7) <= 0.05


def test_bigrams_start_as_the_unigram_model_then_read_word_order():
    """A zero bigram table leaves the unigram model's logits; trained bigrams tell "not good" from "good not"
    (a bag of tokens cannot), ignore padding, and texts of one token have none."""
    plain, with_bigrams = _static(hidden_layer=4), _static(hidden_layer=4, bigram_buckets=50)
    with_bigrams.load_state_dict({**plain.state_dict(), "bigrams.weight": with_bigrams.bigrams.weight})
    ids, mask = pad_ids(ENCODED[:9])
    with torch.no_grad():
        torch.testing.assert_close(with_bigrams(ids, mask).logits, plain(ids, mask).logits, rtol=0, atol=0)
        with_bigrams.bigrams.weight.normal_()
        forward, backward = with_bigrams(*pad_ids([[5, 9, 7]])).logits, with_bigrams(*pad_ids([[7, 9, 5]])).logits
        assert not torch.allclose(forward, backward)
        torch.testing.assert_close(plain(*pad_ids([[5, 9, 7]])).logits, plain(*pad_ids([[7, 9, 5]])).logits)
        alone = torch.cat([with_bigrams(*pad_ids([e])).logits for e in ENCODED[:9]])
        torch.testing.assert_close(alone, with_bigrams(ids, mask).logits, rtol=0, atol=1e-6)  # padding: no pairs
        torch.testing.assert_close(with_bigrams(*pad_ids([[5]])).logits, plain(*pad_ids([[5]])).logits)
    assert bigram_ids(torch.tensor([[1, 2, 3]]), 50).tolist() == [[(1 * 1000003 + 2) % 50, (2 * 1000003 + 3) % 50]]
    assert student_settings(student_config(kind="static")).get("bigram_buckets", "absent") == "absent"  # old keys


# -- config ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("student, message", [
    ({"kind": "cnn", "sif_a": 0.01}, "sif_a is a setting of kind 'static' students (this one is 'cnn')"),
    ({"kind": "bilstm", "token_weights": "sif"}, "token_weights is a setting of kind 'static' students"),
    ({"kind": "hf", "checkpoint": "embedded:minilm-l6", "hidden_layer": 8},
     "hidden_layer is a setting of kind 'static' students (this one is 'hf')"),
    ({"kind": "static", "token_weights": "idf"}, "token_weights: got 'idf', allowed: 'sif', 'learned' or 'none'"),
    ({"kind": "static", "token_weights": "none", "sif_a": 0.01}, "sif_a sets the SIF weights"),
    ({"kind": "static", "sif_a": 0}, "sif_a: Input should be greater than 0"),
    ({"kind": "static", "hidden_layer": 0}, "hidden_layer: Input should be greater than or equal to 1"),
    ({"kind": "static", "tokenizer": "word", "embeddings": "model2vec"},
     "embeddings 'model2vec' needs tokenizer 'wordpiece'"),
    ({"kind": "transformer", "embeddings": "model2vec"}, "uses the teacher's WordPiece vocabulary and embeddings"),
])
def test_static_config_errors_name_the_key(tmp_path, sst2_small, tiny_teacher, student, message):
    path = tiny_config(tmp_path, sst2_small, tiny_teacher, students=[{"name": "s", **student}])
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value) and "students.0" in str(info.value)


# -- end to end -----------------------------------------------------------------------------------

def test_static_student_end_to_end(tmp_path, sst2_small, tiny_teacher, monkeypatch):
    """Trained on the teacher's logits through the pipeline, exported (fp32 parity), examined, loaded in every
    runtime; its stage key leaves older students' keys alone (the static settings are omitted while unset)."""
    students = [{"name": "static", "kind": "static", "embeddings": "model2vec", "embedding_dim": 16,
                 "hidden_layer": 8, "token_weights": "learned", "bigram_buckets": 512,
                 "train": {"epochs": 2, "batch_size": 32, "optimizer": "lazyadam"}}]
    config = tiny_config(tmp_path, sst2_small, tiny_teacher, students=students)
    assert main(["run", str(config)]) == 0
    run = tmp_path / "run"

    manifest = read_json(run / "students" / "static" / "manifest.json")
    assert manifest["status"] == "complete" and manifest["outputs"]["dev"]["accuracy"] > 0
    assert manifest["inputs"]["student"]["token_weights"] == "learned"
    meta = read_json(run / "students" / "static" / "model" / "config.json")
    assert meta["kind"] == "static" and meta["model"]["hidden_layer"] == 8 and meta["model"]["sif_a"] == 1e-3
    assert meta["model"]["bigram_buckets"] == 512
    bigrams = load_tensors(run / "students" / "static" / "model" / "model.safetensors")["bigrams.weight"]
    assert bigrams.shape == (512, 16) and bigrams.abs().sum() > 0  # trained (lazy Adam: sparse rows) from zero

    report = read_json(run / "report.json")
    models = {m["label"]: m for m in report["models"]}
    assert models["static (onnx)"]["parity_max_abs_diff"] <= 1e-4
    assert models["static (onnx)"]["metrics"] == models["static (torch)"]["metrics"]
    assert models["static (onnx-int8)"]["latency"]["1"]["1"]["p50_ms"] > 0

    texts = ["a gorgeous, witty film", "dull and lifeless", "x"]
    model_dir = run / "export" / "static" / "model"
    eager = taskdistil.load(model_dir)
    for runtime in ("onnx", "onnx-int8"):
        other = taskdistil.load(model_dir, runtime=runtime, threads=1)
        assert other.logits(texts) == pytest.approx(eager.logits(texts), abs=1e-4 if runtime == "onnx" else 0.1)
    assert eager.predict(texts) == taskdistil.load(run / "students" / "static" / "model").predict(texts)
    assert len(eager.predict(texts)) == 3 and set(eager.predict(texts)) <= set(eager.labels)

    # retraining the same recipe (same seed) on the cached annotations gives the same student, and reads the
    # teacher's vocabulary states from the run's cache instead of encoding the vocabulary again
    assert len(list((run / "cache").glob("model2vec-states-*.safetensors"))) == 1

    def encode_again(*args, **kwargs):
        raise AssertionError("the vocabulary was encoded again")

    monkeypatch.setattr("taskdistil.students.embeddings.vocabulary_embeddings", encode_again)
    tree = yaml.safe_load(config.read_text())
    tree["students"][0]["name"] = "again"
    config.write_text(yaml.safe_dump(tree), encoding="utf-8")
    assert main(["distill", str(config)]) == 0
    again = taskdistil.load(run / "students" / "again" / "model")
    assert again.logits(texts) == pytest.approx(taskdistil.load(run / "students" / "static" / "model").logits(texts),
                                                abs=1e-6)
