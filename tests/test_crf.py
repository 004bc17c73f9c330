"""CRF taggers: the CRF likelihood and Viterbi against brute force, IOB2 constraints, and a CRF student trained,
exported and predicting the same tags in PyTorch and ONNX."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from test_tagging import WORDS, _tagging_config, conll_data  # noqa: F401  (conll_data: a fixture)

from taskdistil.artifact import load
from taskdistil.config import load_config
from taskdistil.errors import ConfigError
from taskdistil.io import load_tensors
from taskdistil.losses import CRFNLL
from taskdistil.pipeline import run_all
from taskdistil.students.crf import CRFTransitions
from taskdistil.tasks.tagging_crf import NEG, allowed_transitions, decode, masked_scores, viterbi

LABELS = ["B-PER", "I-PER", "B-LOC", "I-LOC", "O"]


def _path_score(emissions, path, start, transitions, end) -> float:
    return float(start[path[0]] + sum(emissions[t, y] for t, y in enumerate(path))
                 + sum(transitions[a, b] for a, b in zip(path, path[1:])) + end[path[-1]])


def _random_crf(seed: int, labels=LABELS) -> CRFTransitions:
    generator = torch.Generator().manual_seed(seed)
    crf = CRFTransitions(len(labels))
    with torch.no_grad():
        for p in (crf.start, crf.transitions, crf.end):
            p.copy_(torch.randn(p.shape, generator=generator))
    crf.constrain(*allowed_transitions(labels, "iob2"))
    return crf


def test_iob2_constraints():
    allowed, start_allowed = allowed_transitions(LABELS, "iob2")
    i_per, b_per, i_loc, o = LABELS.index("I-PER"), LABELS.index("B-PER"), LABELS.index("I-LOC"), LABELS.index("O")
    assert allowed[b_per, i_per] and allowed[i_per, i_per] and allowed[o, b_per]
    assert not allowed[o, i_per] and not allowed[i_loc, i_per] and not allowed[b_per, LABELS.index("I-LOC")]
    assert not start_allowed[i_per] and start_allowed[b_per] and start_allowed[o]
    plain = allowed_transitions(["NOUN", "VERB"], "plain")
    assert plain[0].all() and plain[1].all()


def test_crf_nll_matches_brute_force():
    crf = _random_crf(0)
    start, transitions, end = crf.scores()
    emissions = torch.randn(2, 4, len(LABELS), generator=torch.Generator().manual_seed(1), requires_grad=True)
    tags = torch.tensor([[0, 1, 4, 2], [2, 3, 4, 0]])  # valid IOB2; the second sentence is 3 words long
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    loss = CRFNLL()(emissions, tags, mask, start, transitions, end)
    e, s, a, n = (x.detach().double().numpy() for x in (emissions, start, transitions, end))
    expected = 0.0
    for row, length in enumerate((4, 3)):
        scores = [_path_score(e[row, :length], p, s, a, n)
                  for p in itertools.product(range(len(LABELS)), repeat=length)]
        log_z = np.logaddexp.reduce(scores)
        expected += log_z - _path_score(e[row, :length], tags[row, :length].tolist(), s, a, n)
    assert loss.item() == pytest.approx(expected / 7, rel=1e-5)
    loss.backward()  # finite gradients, none past the second sentence's end
    assert torch.isfinite(emissions.grad).all() and torch.all(emissions.grad[1, 3] == 0)
    assert crf.transitions.grad.abs().sum() > 0 and crf.start.grad.abs().sum() > 0
    assert torch.all(crf.transitions.grad[~crf.allowed.bool()] == 0)  # forbidden transitions stay fixed


def test_viterbi_matches_brute_force():
    rng = np.random.default_rng(3)
    decoding = _random_crf(2).decoding()
    start, transitions, end = masked_scores(decoding)
    assert transitions[LABELS.index("O"), LABELS.index("I-PER")] == NEG
    for length in (1, 2, 3, 5):
        emissions = rng.normal(size=(length, len(LABELS))) * 3
        best = max(itertools.product(range(len(LABELS)), repeat=length),
                   key=lambda p: _path_score(emissions, p, start, transitions, end))
        assert viterbi(emissions, start, transitions, end).tolist() == list(best)
    sentences = [rng.normal(size=(n, len(LABELS))) * 3 for n in (4, 1, 0, 7, 2, 4)]  # decoded together
    assert [p.argmax(-1).tolist() for p in decode(sentences, decoding, batch_size=3)] == [
        viterbi(e, start, transitions, end).tolist() for e in sentences]
    # emissions that favour an I- tag after O: the decoded path is well-formed IOB2 all the same
    emissions = np.full((3, len(LABELS)), -5.0)
    emissions[0, LABELS.index("O")] = emissions[1, LABELS.index("I-PER")] = emissions[2, LABELS.index("O")] = 5.0
    (onehot,) = decode([emissions], {**decoding, "start": [0.0] * 5, "transitions": [[0.0] * 5] * 5, "end": [0.0] * 5})
    tags = [LABELS[j] for j in onehot.argmax(-1)]
    assert tags[1] != "I-PER" and onehot.sum() == 3 and decode([np.zeros((0, 5))], decoding)[0].shape == (0, 5)


def test_crf_students_train_export_and_predict_alike(tmp_path, conll_data, tiny_teacher):  # noqa: F811
    train = {"epochs": 3, "batch_size": 8, "learning_rate": 1e-2, "optimizer": "adam"}
    students = [{"name": "bilstm", "kind": "bilstm", "embedding_dim": 16, "hidden_size": 8, "fc_dim": 8,
                 "crf": True, "loss": {"hard_weight": 0.2}, "train": train},
                {"name": "cnn", "kind": "cnn", "embedding_dim": 16, "num_filters": 4, "filter_widths": [3, 4],
                 "crf": True, "train": train}]
    config = load_config(_tagging_config(tmp_path, conll_data, tiny_teacher, students=students))
    run_all(config)
    run_dir = config.resolved_run_dir()
    sentences = [["john", "visited", "paris"], "mary smith met wu in london", WORDS * 3, ["wu"]]
    for name in ("bilstm", "cnn"):
        model_dir = run_dir / "export" / name / "model"
        meta = json.loads((model_dir / "config.json").read_text())
        weights = load_tensors(model_dir / "model.safetensors")
        assert meta["model"]["crf"] is True and meta["decoding"]["kind"] == "crf"
        assert np.allclose(meta["decoding"]["transitions"], weights["crf.transitions"].numpy())
        assert np.abs(meta["decoding"]["transitions"]).sum() > 0  # learned (they start at zero)
        labels = meta["labels"]
        assert meta["decoding"]["allowed"][labels.index("O")][labels.index("I-PER")] == 0
        torch_model, onnx_model = load(model_dir), load(model_dir, runtime="onnx")
        predicted = torch_model.predict(sentences)
        assert predicted == onnx_model.predict(sentences)
        emissions = torch_model.logits(sentences)  # the emissions; predictions are their Viterbi paths
        assert np.allclose(np.concatenate(emissions), np.concatenate(onnx_model.logits(sentences)), atol=1e-4)
        paths = decode(emissions, meta["decoding"])
        assert [[labels[j] for j in p.argmax(-1)] for p in paths] == [p["tags"] for p in predicted]
        for tags in (p["tags"] for p in predicted):
            assert all(not t.startswith("I-") or (k and tags[k - 1][2:] == t[2:]) for k, t in enumerate(tags))
        assert load(model_dir, runtime="onnx-int8").predict(sentences)[0]["tags"]  # int8 decodes too
    measurements = json.loads((run_dir / "exam" / "measurements.json").read_text())
    assert {row["label"].split(" ")[0] for row in measurements["models"]} >= {"bilstm", "cnn"}


def test_crf_needs_a_word_level_tagger(tmp_path, sst2_small, tiny_teacher, conll_data):  # noqa: F811
    from conftest import tiny_config

    students = [{"name": "b", "kind": "bilstm", "crf": True}]
    with pytest.raises(ConfigError, match="students.b.crf: a CRF layer is for task 'token_tagging'"):
        load_config(tiny_config(tmp_path, sst2_small, tiny_teacher, students=students))
    students = [{"name": "t", "kind": "transformer", "crf": True}]
    with pytest.raises(ConfigError, match="crf is a setting of kind 'bilstm' and 'cnn'"):
        load_config(_tagging_config(tmp_path, conll_data, tiny_teacher, students=students))


def test_crf_off_leaves_stage_keys_as_they_were():
    from taskdistil.student_config import student_config
    from taskdistil.student_key import student_settings

    for kind in ("bilstm", "cnn"):  # runs from before the setting keep their keys
        assert "crf" not in student_settings(student_config(name="b", kind=kind))
        assert student_settings(student_config(name="b", kind=kind, crf=True))["crf"] is True
