"""Question tagging (extractive QA as tagging, IndoNLU FacQA style) on tiny random models: the reader and its
errors, the metrics, the question + passage encoding (windows repeat the question), and a whole run with predict."""

from __future__ import annotations

import csv
import json
import random

import numpy as np
import pytest
import yaml

from taskdistil.artifact import load
from taskdistil.cli import main
from taskdistil.config import load_config
from taskdistil.data.question_tagged import read_question_tagged
from taskdistil.errors import DataError
from taskdistil.pipeline import run_all
from taskdistil.tasks import task_kind
from taskdistil.tasks.question_tagging import exact_match
from taskdistil.tasks.question_words import encode_question_words

PEOPLE = ["john", "mary", "smith", "wu"]
PLACES = ["paris", "london", "jakarta"]
FILLER = ["the", "visited", "and", "met", "in", "yesterday", "with", "a", "city"]
QUESTIONS = {"PER": ["who", "is", "it", "?"], "LOC": ["where", "is", "it", "?"]}


def _example(rng: random.Random, filler: int = 0) -> tuple[list[str], list[str], list[str]]:
    """A passage with one person and one place; the question asks for one of them (bare B/I/O tags, as FacQA)."""
    asked = rng.choice(["PER", "LOC"])
    words, tags = [], []
    parts = [("PER", [rng.choice(PEOPLE)]), ("LOC", [rng.choice(PLACES)])]
    rng.shuffle(parts)
    for kind, entity in parts:
        for _ in range(rng.randint(1, 3) + filler):
            words.append(rng.choice(FILLER))
            tags.append("O")
        words += entity
        tags += [("B" if k == 0 else "I") if kind == asked else "O" for k in range(len(entity))]
    return QUESTIONS[asked], words, tags


def _write_csv(path, rows) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["question", "passage", "seq_label"])
        for q, p, t in rows:
            writer.writerow([repr(q), repr(p), repr(t)])


@pytest.fixture(scope="module")
def qa_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("facqa")
    rng = random.Random(0)
    for name, n in (("train", 60), ("dev", 12), ("test", 12)):
        rows = [_example(rng) for _ in range(n)]
        if name == "test":  # a passage far longer than the teacher's max_length: windows repeating the question
            rows.append(_example(rng, filler=12))
        _write_csv(root / f"{name}.csv", rows)
    return root


def _config(tmp_path, data_dir, teacher, students=None) -> str:
    tree = {
        "name": "qa", "run_dir": str(tmp_path / "run"), "seed": 1,
        "data": {"task": "question_tagging", "dir": str(data_dir), "train": "train.csv", "dev": "dev.csv",
                 "test": "test.csv", "window_overlap": 2},
        "teacher": {"model": str(teacher), "max_length": 24,
                    "train": {"epochs": 2, "batch_size": 8, "learning_rate": 1e-3}},
        "annotate": {"batch_size": 16, "shard_size": 32},
        "students": students or [
            {"name": "bilstm", "kind": "bilstm", "embedding_dim": 16, "hidden_size": 8, "fc_dim": 8,
             "train": {"epochs": 2, "batch_size": 8, "learning_rate": 1e-2, "optimizer": "adam"}},
            {"name": "cnn", "kind": "cnn", "embedding_dim": 16, "num_filters": 4, "filter_widths": [3, 4],
             "question": "pooled",
             "train": {"epochs": 2, "batch_size": 8, "learning_rate": 1e-2, "optimizer": "adam"}}],
        "exam": {"warmup": 1, "max_batches": 3, "max_seconds": 0.2, "threads": [1], "batch_sizes": [1, 32],
                 "reference": "none", "memory": False},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return str(path)


# -- reader -----------------------------------------------------------------------------------------------------


def test_reads_facqa_csv_and_jsonl(tmp_path):
    _write_csv(tmp_path / "a.csv", [(["siapa", "?"], ["budi", "pergi"], ["B", "O"])])
    split = read_question_tagged(str(tmp_path / "a.csv"), tag_column="seq_label")
    assert split.questions == [["siapa", "?"]] and split.passages == [["budi", "pergi"]]
    assert split.tags == [["B", "O"]] and split.lines == [2]
    (tmp_path / "b.jsonl").write_text(
        "\n" + json.dumps({"question": ["who"], "passage": ["john", "went"], "seq_label": ["B", "O"]}) + "\n")
    split = read_question_tagged(str(tmp_path / "b.jsonl"), tag_column="seq_label")
    assert split.passages == [["john", "went"]] and split.where(0) == f"{tmp_path / 'b.jsonl'}, line 2"


@pytest.mark.parametrize("row, message", [
    ((["q"], ["a", "b"], ["O"]), "line 3: 2 passage tokens but 1 tags"),
    ((["q"], [], []), "line 3: empty passage"),
    ((["q"], ["a", ""], ["O", "O"]), "line 3: passage token 1 is empty"),
])
def test_reader_errors_name_file_and_line(tmp_path, row, message):
    _write_csv(tmp_path / "bad.csv", [(["q"], ["a"], ["O"]), row])
    with pytest.raises(DataError, match=message) as err:
        read_question_tagged(str(tmp_path / "bad.csv"))
    assert "bad.csv" in str(err.value)


def test_reader_names_a_missing_column(tmp_path):
    _write_csv(tmp_path / "a.csv", [(["q"], ["a"], ["O"])])
    with pytest.raises(DataError, match="line 1: no column 'text' for data.passage_column"):
        read_question_tagged(str(tmp_path / "a.csv"), passage_column="text")


def test_unknown_tag_names_file_line_and_word(tmp_path, qa_data, tiny_teacher):
    for name in ("train", "dev"):
        (tmp_path / f"{name}.csv").write_bytes((qa_data / f"{name}.csv").read_bytes())
    _write_csv(tmp_path / "test.csv", [(["q"], ["a", "b"], ["O", "X-ANS"])])
    config = load_config(_config(tmp_path, tmp_path, tiny_teacher))
    with pytest.raises(DataError, match=r"test.csv, line 2, word 2: tag 'X-ANS'"):
        task_kind("question_tagging").load(config)


# -- metrics ----------------------------------------------------------------------------------------------------


def test_metrics_span_f1_and_exact_match():
    kind = task_kind("question_tagging")
    from taskdistil.tasks.tagging import TagLabels

    labels = TagLabels(("O", "B-_", "I-_"), "iob2", "iob2")
    gold = [np.array([0, 1, 2, 0]), np.array([1, 0, 0]), np.array([0, 0])]

    def logits(ids):
        return np.eye(3, dtype=np.float32)[ids] * 5

    perfect = kind.evaluate([logits(g) for g in gold], gold, labels)
    assert perfect.primary == "f1" and perfect.metrics["f1"] == 1.0 and perfect.metrics["exact_match"] == 1.0
    # example 1: span too short (a miss and a false span); example 2 right; example 3: a spurious span
    pred = [logits([0, 1, 0, 0]), logits([1, 0, 0]), logits([0, 1])]
    ev = kind.evaluate(pred, gold, labels).metrics
    assert ev["precision"] == pytest.approx(1 / 3) and ev["recall"] == pytest.approx(1 / 2)
    assert ev["f1"] == pytest.approx(0.4) and ev["exact_match"] == pytest.approx(1 / 3)
    assert exact_match([["O", "O"]], [["O", "O"]], "iob2") == 1.0  # no answer, none predicted
    counts = kind.example_statistics(pred, gold, labels)  # what the exam's paired bootstrap resamples
    assert counts.shape == (3, 3) and kind.metric_of_sums(counts.sum(0, keepdims=True), labels)[0] == pytest.approx(0.4)


def test_predictions_give_answer_text_and_offsets():
    kind = task_kind("question_tagging")
    labels = ["O", "B-_", "I-_"]
    logits = np.eye(3, dtype=np.float32)[[0, 1, 2, 0]] * 5
    (found,) = kind.predictions([logits], labels, {"scheme": "iob2", "source_scheme": "iob1"},
                                inputs=[(["who", "?"], ["at", "new", "york", "today"])])
    assert found["tags"] == ["O", "I-_", "I-_", "O"]  # the file's own scheme (IOB1)
    answer = found["answer"]
    assert (answer["text"], answer["start"], answer["end"]) == ("new york", 1, 3)
    assert "at new york today"[answer["char_start"]:answer["char_end"]] == "new york"


# -- encoding ---------------------------------------------------------------------------------------------------


def test_windows_repeat_the_question_and_keep_every_passage_word(tiny_teacher):
    from transformers import AutoTokenizer

    from taskdistil.teacher.words import backend_of

    tokenizer = AutoTokenizer.from_pretrained(tiny_teacher)
    backend = backend_of(tokenizer)
    question, passage = ["where", "is", "it", "?"], (FILLER * 3)[:25]
    enc = encode_question_words(backend, [(question, passage)], max_length=16, overlap_words=2)
    assert enc.windowed == 1 and len(enc.pieces) > 1 and enc.words == [25]
    q_ids = tokenizer(" ".join(question), add_special_tokens=False)["input_ids"]
    kept = []
    for piece in enc.pieces:
        assert len(piece.ids) <= 16
        assert piece.ids[: len(q_ids) + 2] == [tokenizer.cls_token_id, *q_ids, tokenizer.sep_token_id]
        assert piece.ids[-1] == tokenizer.sep_token_id
        assert all(p > len(q_ids) + 1 for p in piece.positions)  # passage words only
        kept += range(piece.keep_start, piece.keep_end)
    assert kept == list(range(25))  # every passage word predicted exactly once
    whole = encode_question_words(backend, [(question, passage)])
    assert len(whole.pieces) == 1 and len(whole.pieces[0].positions) == 25
    long_q = encode_question_words(backend, [(FILLER * 3, ["paris"])], max_length=16)
    assert long_q.cut_questions == 1 and len(long_q.pieces[0].ids) <= 16


# -- end to end -------------------------------------------------------------------------------------------------


def test_question_tagging_end_to_end(tmp_path, qa_data, tiny_teacher, capsys):
    config = load_config(_config(tmp_path, qa_data, tiny_teacher))
    run_all(config)
    run_dir = config.resolved_run_dir()
    from taskdistil.teacher.word_store import open_logit_store

    store = open_logit_store(run_dir / "annotations", verify=True)
    data = task_kind("question_tagging").load(config)
    assert list(store.word_counts()) == [len(p) for _, p in data.inputs("train")]  # passage words only
    measurements = json.loads((run_dir / "exam" / "measurements.json").read_text())
    assert measurements["primary_metric"] == "f1"
    baseline = kind_of(config).majority(data)
    assert baseline.answer == "O" and [len(o) for o in baseline.outputs] == [len(p) for _, p in data.inputs("test")]
    for row in measurements["models"]:
        assert 0.0 <= row["metrics"]["f1"] <= 1.0 and 0.0 <= row["metrics"]["exact_match"] <= 1.0
    long_passage = (FILLER * 4) + ["paris"]
    examples = [("who is it ?", "john visited paris"), (["where", "?"], ["a", "city", "london"]),
                ("where is it ?", " ".join(long_passage))]
    for name in ("bilstm", "cnn", "teacher"):
        torch_model = load(run_dir / "export" / name / "model")
        onnx_model = load(run_dir / "export" / name / "model", runtime="onnx")
        predicted = torch_model.predict(examples)
        assert [len(p["tags"]) for p in predicted] == [3, 3, len(long_passage)]  # no passage word dropped
        onnx_predicted = onnx_model.predict(examples)
        assert [p["tags"] for p in predicted] == [p["tags"] for p in onnx_predicted]
        for found, (_, passage) in zip(predicted, _inputs(examples)):
            for span in found["spans"]:
                assert span["text"] == " ".join(passage[span["start"]:span["end"]])
                assert " ".join(passage)[span["char_start"]:span["char_end"]] == span["text"]
            assert (found["answer"] is None) == (not found["spans"])
    capsys.readouterr()
    assert main(["predict", str(run_dir / "export" / "bilstm" / "model"), "who is it ?\tjohn visited paris"]) == 0
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["question"] == "who is it ?" and line["passage"] == "john visited paris"
    assert len(line["tags"]) == 3 and "answer" in line


def kind_of(config):
    return task_kind(config.data.task)


def _inputs(examples):
    return task_kind("question_tagging").as_inputs(examples)


@pytest.mark.parametrize("kind", ["bilstm", "cnn"])
def test_pooled_question_reaches_every_passage_token(kind):
    import torch

    from taskdistil.students.registry import build_student

    torch.manual_seed(0)
    settings = {"vocab_size": 50, "num_labels": 3, "embedding_dim": 8, "hidden_size": 8, "fc_dim": 32,
                "num_filters": 4, "filter_widths": (3,), "head": "token", "dropout": 0.0}
    pooled = build_student(kind, question="pooled", sep_id=2, **settings).eval()
    inline = build_student(kind, **settings).eval()
    passage = [10 + k for k in range(12)]
    a = torch.tensor([[1, 5, 6, 2, *passage, 2]])  # [CLS] q [SEP] p [SEP]
    b = torch.tensor([[1, 7, 8, 2, *passage, 2]])  # another question
    mask = torch.ones_like(a)
    with torch.no_grad():
        assert not torch.allclose(pooled(a, mask).logits[0, -3], pooled(b, mask).logits[0, -3])
        if kind == "cnn":  # a window of 3 never reaches the question from the passage's end
            assert torch.allclose(inline(a, mask).logits[0, -3], inline(b, mask).logits[0, -3])
        else:
            assert torch.allclose(pooled(a, mask).logits, pooled.export_forward(a, mask), atol=1e-5)
        padded = torch.cat([a, torch.zeros(1, 3, dtype=torch.long)], 1)  # padding changes nothing
        pad_mask = torch.cat([mask, torch.zeros(1, 3, dtype=torch.long)], 1)
        assert torch.allclose(pooled(padded, pad_mask).logits[0, : a.shape[1]], pooled(a, mask).logits[0], atol=1e-5)


def test_question_keys_belong_to_question_tagging(tmp_path, sst2_small, tiny_teacher):
    from taskdistil.errors import ConfigError

    from conftest import tiny_config

    data = {"dir": str(sst2_small), "train": "sst2/train.tsv", "dev": "sst2/dev.tsv", "test": "sst2/test.tsv",
            "question_column": "q"}
    with pytest.raises(ConfigError, match="question_column is a setting of task 'question_tagging'"):
        load_config(tiny_config(tmp_path, sst2_small, tiny_teacher, data=data))
    students = [{"name": "b", "question": "pooled"}]
    data["question_column"] = "question"
    with pytest.raises(ConfigError, match="students.b.question is a setting of task 'question_tagging'"):
        load_config(tiny_config(tmp_path, sst2_small, tiny_teacher, data=data, students=students))
