"""Self-contained model directories: save a student or teacher, ``taskdistil.load`` it back."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open

import taskdistil
from taskdistil.artifact import CONFIG, STUDENT_FORMAT, WEIGHTS, Predictor, save_student
from taskdistil.errors import ArtifactError
from taskdistil.students.registry import build_student
from taskdistil.students.tokenizer import WordTokenizer
from taskdistil.train.batching import pad_ids

LABELS = ["negative", "neutral", "positive"]
SENTENCES = ["a great , moving film .", "dull and far too long", "it is a film",
             "great acting , dull plot", "the best film of the year !"]
PROBES = SENTENCES + ["an unseen word salad", "great", "", "film " * 30]



@pytest.fixture
def student(tmp_path):
    """(directory, in-memory model, tokenizer) of a saved tiny BiLSTM."""
    tok = WordTokenizer.build(SENTENCES, lowercase=True, max_size=64, min_freq=1, max_length=12)
    torch.manual_seed(0)
    model = build_student("bilstm", vocab_size=tok.vocab_size, num_labels=len(LABELS), embedding_dim=8,
                          hidden_size=6, fc_dim=5, pooling="max")
    with torch.no_grad():  # make the logits spread out so argmax differs between texts
        for p in model.parameters():
            p.mul_(3.0)
    model.eval()
    out = tmp_path / "student"
    save_student(out, model, tok, LABELS, "single_sentence", {"test": True})
    return out, model, tok


def _direct_logits(model, tok, texts):
    ids, mask = pad_ids(tok.encode(texts, "truncate"), tok.pad_id)
    with torch.no_grad():
        return model(ids, mask).logits.numpy()


def test_student_load_predicts_like_memory_model(student):
    path, model, tok = student
    loaded = taskdistil.load(path)
    assert isinstance(loaded, Predictor)
    assert loaded.kind == "bilstm" and loaded.labels == LABELS and loaded.path == path
    assert loaded.model is not model and not loaded.model.training
    got = loaded.logits(PROBES, batch_size=3)
    assert got.shape == (len(PROBES), len(LABELS))
    np.testing.assert_allclose(got, _direct_logits(model, tok, PROBES), rtol=1e-5, atol=1e-6)
    # one text at a time, as a string
    np.testing.assert_allclose(loaded.logits(PROBES[1]), got[1:2], rtol=1e-5, atol=1e-6)


def test_student_predict_and_proba(student):
    path, model, tok = student
    loaded = taskdistil.load(str(path))
    direct = _direct_logits(model, tok, PROBES)
    labels = loaded.predict(PROBES)
    assert labels == [LABELS[i] for i in direct.argmax(-1)]
    assert all(isinstance(label, str) for label in labels)
    proba = loaded.predict_proba(PROBES)
    assert proba.shape == (len(PROBES), len(LABELS))
    np.testing.assert_allclose(proba.sum(-1), 1.0, rtol=1e-6)
    assert (proba > 0).all()
    e = np.exp(direct - direct.max(-1, keepdims=True))
    np.testing.assert_allclose(proba, e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_student_directory_is_pickle_free(student):
    path, model, _ = student
    files = sorted(p.name for p in path.iterdir())
    assert files == sorted([CONFIG, WEIGHTS, "vocab.txt"])
    for p in path.iterdir():
        head = p.read_bytes()[:4]
        assert not head.startswith(b"PK"), f"{p.name} looks like a torch.save zip"
        assert not head.startswith(b"\x80"), f"{p.name} looks like a pickle"
    meta = json.loads((path / CONFIG).read_text())
    assert meta["format"] == STUDENT_FORMAT and meta["kind"] == "bilstm" and meta["labels"] == LABELS
    assert meta["model"]["pooling"] == "max" and meta["tokenizer"]["kind"] == "word"
    with safe_open(str(path / WEIGHTS), "pt") as fh:
        assert set(fh.keys()) == set(model.state_dict())


def test_load_missing_directory_or_config(tmp_path):
    with pytest.raises(ArtifactError, match="no such model directory") as err:
        taskdistil.load(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / WEIGHTS).write_bytes(b"")
    with pytest.raises(ArtifactError, match="config.json") as err:
        taskdistil.load(empty)
    assert str(empty) in str(err.value)


def _edit_config(path, **changes):
    meta = json.loads((path / CONFIG).read_text())
    meta.update(changes)
    (path / CONFIG).write_text(json.dumps(meta))


def test_load_wrong_format(student):
    path, _, _ = student
    _edit_config(path, format="something-else")
    with pytest.raises(ArtifactError, match="something-else") as err:
        taskdistil.load(path)
    assert str(path / CONFIG) in str(err.value)


def test_load_unknown_kind(student):
    path, _, _ = student
    _edit_config(path, kind="transformer9000")
    with pytest.raises(ArtifactError, match="transformer9000") as err:
        taskdistil.load(path)
    assert str(path) in str(err.value) and "bilstm" in str(err.value)  # names the known kinds


def test_load_missing_weights(student):
    path, _, _ = student
    (path / WEIGHTS).unlink()
    with pytest.raises(ArtifactError, match=WEIGHTS) as err:
        taskdistil.load(path)
    assert str(path) in str(err.value)


# -- teacher ------------------------------------------------------------------------------------

def test_teacher_save_load_roundtrip(tiny_teacher, tmp_path):
    from taskdistil.teacher.model import TEACHER_META, load_pretrained, save_teacher

    model, tokenizer = load_pretrained(str(tiny_teacher), ["neg", "pos"])
    model.eval()
    out = tmp_path / "teacher"
    save_teacher(model, tokenizer, out, ["neg", "pos"], max_length=32, origin=str(tiny_teacher))
    assert (out / TEACHER_META).is_file()
    assert not list(out.glob("*.bin")) and (out / "model.safetensors").is_file()

    loaded = taskdistil.load(out)
    assert loaded.kind == "teacher" and loaded.labels == ["neg", "pos"]
    texts = ["a fine film", "not good at all , really", "ok"]
    logits = loaded.logits(texts)
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        direct = model(**enc).logits.numpy()
    np.testing.assert_allclose(logits, direct, rtol=1e-4, atol=1e-5)
    preds = loaded.predict(texts)
    assert preds == [["neg", "pos"][i] for i in direct.argmax(-1)]
    np.testing.assert_allclose(loaded.predict_proba(texts).sum(-1), 1.0, rtol=1e-6)
    # the teacher truncates over-long input instead of failing
    assert loaded.logits(["word " * 100]).shape == (1, 2)
