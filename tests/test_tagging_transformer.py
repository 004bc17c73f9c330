"""Token tagging with transformer students (from the teacher's layers) and hf students (a pretrained encoder): the
per-token head, windows for sentences longer than max_length (rejoined as the teacher's are), training end to end,
ONNX export with parity, the exam and predict; Patient KD refused with a config error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_hf_student import hf_checkpoint  # noqa: F401  (a fixture: its own vocabulary, hidden 48)
from test_tagging import WORDS, _tagging_config, conll_data  # noqa: F401  (conll_data: a fixture)

from taskdistil.artifact import load
from taskdistil.config import load_config
from taskdistil.errors import ConfigError
from taskdistil.io import read_json
from taskdistil.pipeline import run_all

TRAIN = {"epochs": 3, "batch_size": 8, "learning_rate": 2e-3, "evals_per_epoch": 1}
LONG = WORDS * 4 + ["paris"]  # far over the students' max_length (24 sub-tokens): windows


def _students(checkpoint) -> list[dict]:
    return [{"name": "tf", "kind": "transformer", "layers": 2, "train": TRAIN},
            {"name": "hf", "kind": "hf", "checkpoint": str(checkpoint), "layers": 1, "train": TRAIN}]


@pytest.fixture(scope="module")
def tagged_run(tmp_path_factory, conll_data, tiny_teacher, hf_checkpoint):  # noqa: F811
    tmp_path = tmp_path_factory.mktemp("tagging_transformer")
    config = load_config(_tagging_config(tmp_path, conll_data, tiny_teacher, students=_students(hf_checkpoint)))
    run_all(config)
    return config.resolved_run_dir()


def test_students_read_windows_and_learn_word_logits(tagged_run):
    for name in ("tf", "hf"):
        meta = read_json(tagged_run / "students" / name / "model" / "config.json")
        assert meta["model"]["head"] == "token" and meta["tokenizer"]["windows"] is True
        assert meta["provenance"]["dev"]["f1"] >= 0.0
    tf = read_json(tagged_run / "students" / "tf" / "model" / "config.json")
    assert tf["model"]["bert"]["num_hidden_layers"] == 2 and tf["model"]["teacher_layers"] == [1, 2]
    measurements = json.loads((tagged_run / "exam" / "measurements.json").read_text())
    scored = {(row["name"], row["runtime"]) for row in measurements["models"]}
    assert {(n, r) for n in ("tf", "hf") for r in ("torch", "onnx", "onnx-int8")} <= scored
    for row in measurements["models"]:
        assert 0.0 <= row["metrics"]["f1"] <= 1.0


@pytest.mark.parametrize("name", ["tf", "hf"])
def test_exported_tagger_predicts_words_and_spans(tagged_run, name):
    model_dir = tagged_run / "export" / name / "model"
    assert read_json(model_dir / "export.json")["parity"]["onnx_max_abs_diff"] <= 1e-4
    torch_model, onnx_model = load(model_dir), load(model_dir, runtime="onnx")
    sentences = [["john", "visited", "paris"], "mary met wu in london", LONG]
    predicted = torch_model.predict(sentences)
    assert [len(p["tags"]) for p in predicted] == [3, 5, len(LONG)]  # every word, the long sentence too
    assert predicted == onnx_model.predict(sentences)
    for sentence in predicted:
        for span in sentence["spans"]:
            assert sentence["tags"][span["start"]].startswith("B-") and span["type"] in ("PER", "LOC")
    logits = torch_model.logits(sentences)
    assert np.allclose(np.concatenate(logits), np.concatenate(onnx_model.logits(sentences)), atol=1e-4)
    assert np.allclose(np.concatenate(logits), np.concatenate(load(model_dir, runtime="onnx-int8")
                                                              .logits(sentences)), atol=0.5)


@pytest.mark.parametrize("name", ["tf", "hf"])
def test_long_sentence_is_read_in_the_teachers_windows(tagged_run, name):
    """The student reads the long sentence in windows of at most max_length sub-tokens, as the teacher does, and
    each word's logits come from the window that keeps it: the first window's kept words get exactly the logits of
    that window's words read alone."""
    predictor = load(tagged_run / "students" / name / "model")
    encoded = predictor.encode([LONG])
    encoding = encoded.encoding
    assert encoding.windowed == 1 and len(encoding.pieces) > 1
    assert all(len(piece.ids) <= predictor.max_length for piece in encoding.pieces)
    teacher = load(tagged_run / "teacher" / "model")
    teacher_windows = teacher.encode([LONG]).encoding.pieces
    same = [(p.start, p.end, p.keep_start, p.keep_end) for p in encoding.pieces] == [
        (p.start, p.end, p.keep_start, p.keep_end) for p in teacher_windows]
    assert same == (name == "tf")  # the teacher's sub-words and max_length: its very windows; hf: its own sub-words
    first = encoding.pieces[0]
    whole = predictor.logits([LONG])[0]
    alone = predictor.logits([LONG[first.start:first.end]])[0]
    assert np.allclose(whole[first.keep_start:first.keep_end], alone[first.keep_start:first.keep_end], atol=1e-5)
    assert not np.allclose(whole[first.keep_end:first.end], alone[first.keep_end:], atol=1e-5)  # from window 2


def test_token_head_reads_every_tokens_state(tagged_run):
    model = load(tagged_run / "students" / "tf" / "model").model
    ids = torch.tensor([[2, 2000, 2001, 3, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    with torch.no_grad():
        logits = model(ids, mask).logits
        states = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
    assert logits.shape == (1, 5, len(read_json(tagged_run / "students" / "tf" / "model" / "config.json")["labels"]))
    assert torch.allclose(logits, model.classifier(states), atol=1e-6)
    assert model.bert.pooler is None  # a token-classification teacher has none; the head does not need one


@pytest.mark.parametrize("student", [
    {"name": "tf", "kind": "transformer", "layers": 2, "loss": {"pkd_weight": 0.5}},
    {"name": "tf", "kind": "transformer", "layers": 2, "recipe": "pkd-skip"},
    {"name": "b", "kind": "bilstm", "stages": [{"objective": "representation"}, {"objective": "logits"}]},
])
def test_patient_kd_is_refused_for_tagging(tmp_path, conll_data, tiny_teacher, student):  # noqa: F811
    with pytest.raises(ConfigError, match="not supported for task 'token_tagging'"):
        load_config(_tagging_config(tmp_path, conll_data, tiny_teacher, students=[student]))



def test_training_batches_hold_every_window_and_take_each_word_once(tiny_teacher):
    """A windowed student's batch of sentences holds all their windows; its word rows are the sentences' words in
    order, each from the window that keeps it, against the teacher's rows and gold tags of those words."""
    from types import SimpleNamespace

    from transformers import AutoTokenizer

    from taskdistil.distill_targets import WordTargets
    from taskdistil.students.tokenizer import WordPieceTokenizer

    sentences = [WORDS * 2, ["john", "visited", "paris"], ["extraordinarily"] * 7 + ["a"]]
    tokenizer = WordPieceTokenizer.from_teacher(AutoTokenizer.from_pretrained(tiny_teacher), 12)
    tokenizer.windows = True
    gold = [np.arange(len(s)) % 2 for s in sentences]
    data = SimpleNamespace(labels=SimpleNamespace(labels=["O", "B-X"]), window_overlap=2,
                           inputs=lambda split: sentences, gold=lambda split: gold)
    counts = np.asarray([len(s) for s in sentences])
    store = SimpleNamespace(word_counts=lambda: counts,
                            words=lambda idx: [np.full((counts[i], 2), float(i)) for i in idx])
    transfer = SimpleNamespace(labeled_rows=[0, 1, 2])
    from taskdistil.tasks import task_kind

    unit = WordTargets(task_kind("token_tagging"), data, ["O", "B-X"], transfer,
                       sentences, tokenizer, store, "truncate",
                       SimpleNamespace(to=lambda t: t))
    assert unit.train.windowed == 2
    idx = np.asarray([2, 0, 1])
    ids, mask = unit.inputs(idx)
    pieces = [unit.train.pieces[p] for i in idx for p in unit.train.by_sentence[i]]
    assert ids.shape[0] == len(pieces) > 3 and ids.shape[1] <= 12
    assert unit.lengths[0] == max(len(p.ids) for p in pieces if p.sentence == 0) <= 12
    logits = torch.full((*ids.shape, 1), -1.0)  # at each word's first sub-token in every window: (sentence, word)
    for row, piece in enumerate(pieces):
        for k, position in enumerate(piece.positions):
            logits[row, position, 0] = 1000 * piece.sentence + piece.start + k
    rows = unit.rows(logits, idx)[:, 0].long().tolist()
    assert rows == [1000 * i + w for i in idx for w in range(len(sentences[i]))]
    assert len(unit.teacher(idx)) == len(rows) == len(unit.gold(idx))
    assert unit.gold(idx).tolist() == np.concatenate([gold[i] for i in idx]).tolist()
