"""Token tagging end to end on tiny random models: word alignment and windows, the teacher's token head, word-level
annotations, BiLSTM/CNN taggers, ONNX export, the exam and predict."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import yaml

from taskdistil.artifact import load
from taskdistil.cli import main
from taskdistil.config import load_config
from taskdistil.errors import ConfigError
from taskdistil.pipeline import run_all
from taskdistil.tasks import task_kind
from taskdistil.tasks.words import encode_words

PEOPLE = ["john", "mary", "smith", "alexander", "wu"]
PLACES = ["paris", "london", "jakarta", "surabaya"]
WORDS = ["the", "visited", "and", "met", "in", "yesterday", "with", "extraordinarily", "quickly", "a", "city"]


def _sentence(rng: random.Random) -> list[tuple[str, str]]:
    out = []
    for _ in range(rng.randint(3, 12)):
        r = rng.random()
        if r < 0.2:
            names = rng.sample(PEOPLE, rng.randint(1, 2))
            out += [(w, ("B-" if k == 0 else "I-") + "PER") for k, w in enumerate(names)]
        elif r < 0.35:
            out.append((rng.choice(PLACES), "B-LOC"))
        else:
            out.append((rng.choice(WORDS), "O"))
    return out


def _write_conll(path, sentences) -> None:
    path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in s) for s in sentences) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def conll_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("conll")
    rng = random.Random(0)
    for name, n in (("train", 60), ("dev", 15), ("test", 15)):
        sentences = [_sentence(rng) for _ in range(n)]
        if name == "test":  # one sentence far longer than the teacher's max_length: windows
            sentences.append([(w, "O") for w in WORDS * 4] + [("paris", "B-LOC")])
        _write_conll(root / f"{name}.txt", sentences)
    return root


def _tagging_config(tmp_path, data_dir, teacher, **students) -> str:
    tree = {
        "name": "tag", "run_dir": str(tmp_path / "run"), "seed": 1,
        "data": {"task": "token_tagging", "dir": str(data_dir), "train": "train.txt", "dev": "dev.txt",
                 "test": "test.txt", "window_overlap": 2},
        "teacher": {"model": str(teacher), "max_length": 24,
                    "train": {"epochs": 2, "batch_size": 8, "learning_rate": 1e-3}},
        "annotate": {"batch_size": 16, "shard_size": 32},
        "students": students.get("students") or [
            {"name": "bilstm", "kind": "bilstm", "embedding_dim": 16, "hidden_size": 8, "fc_dim": 8,
             "train": {"epochs": 3, "batch_size": 8, "learning_rate": 1e-2, "optimizer": "adam"}},
            {"name": "cnn", "kind": "cnn", "embedding_dim": 16, "num_filters": 4, "filter_widths": [3, 4],
             "train": {"epochs": 3, "batch_size": 8, "learning_rate": 1e-2, "optimizer": "adam"}}],
        "exam": {"warmup": 1, "max_batches": 3, "max_seconds": 0.2, "threads": [1], "batch_sizes": [1, 32],
                 "reference": "none", "memory": False},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return str(path)


def test_windows_predict_every_word_once(tiny_teacher):
    from tokenizers import Tokenizer

    backend = Tokenizer.from_file(str(tiny_teacher / "tokenizer.json"))
    backend.no_truncation()
    backend.no_padding()
    words = ["extraordinarily"] * 9 + ["paris", "a"]
    encoding = encode_words(backend, [words, ["a"]], max_length=12, overlap_words=2)
    assert encoding.windowed == 1 and len(encoding.by_sentence[0]) > 1
    kept = sorted(w for i in encoding.by_sentence[0] for w in range(encoding.pieces[i].keep_start,
                                                                   encoding.pieces[i].keep_end))
    assert kept == list(range(len(words)))  # every word predicted by exactly one window
    for piece in encoding.pieces:
        assert len(piece.ids) <= 12
        first = backend.encode(words[piece.start:piece.end] if piece.sentence == 0 else ["a"],
                               is_pretokenized=True)
        word_ids = first.word_ids
        assert piece.positions == [word_ids.index(k) for k in range(piece.end - piece.start)]
    whole = encode_words(backend, [words], max_length=None)
    assert len(whole.pieces) == 1 and len(whole.pieces[0].positions) == len(words)


def test_token_tagging_end_to_end(tmp_path, conll_data, tiny_teacher, capsys):
    config = load_config(_tagging_config(tmp_path, conll_data, tiny_teacher))
    run_all(config)
    run_dir = config.resolved_run_dir()
    shards = json.loads((run_dir / "annotations" / "shards.json").read_text())
    assert "offsets" in shards  # word-level annotations
    from taskdistil.teacher.word_store import open_logit_store

    store = open_logit_store(run_dir / "annotations", verify=True)
    data = task_kind("token_tagging").load(config)
    assert list(store.word_counts()) == [len(s) for s in data.inputs("train")]
    measurements = json.loads((run_dir / "exam" / "measurements.json").read_text())
    assert measurements["primary_metric"] == "f1"
    for row in measurements["models"]:
        assert 0.0 <= row["metrics"]["f1"] <= 1.0 and "accuracy" in row["metrics"]
    # the majority baseline of a tagger tags every word O: no span, F1 0; every row has its interval against it
    majority = measurements["baselines"]["majority"]
    assert majority["label"] == "O" and majority["metrics"]["f1"] == 0.0
    assert measurements["intervals"]["metric"] == "f1"
    for row in measurements["models"]:
        verdict = row["vs_majority"]
        assert verdict["difference"] == pytest.approx(row["metrics"]["f1"], abs=1e-9)
        assert verdict["ci95"][0] <= verdict["difference"] <= verdict["ci95"][1]
        assert (row["vs_teacher"] is None) == (row["label"] == "teacher (torch)")
    sentences = [["john", "visited", "paris"], "mary met wu in london", WORDS * 4]
    for name in ("bilstm", "cnn", "teacher"):
        torch_model = load(run_dir / "export" / name / "model")
        onnx_model = load(run_dir / "export" / name / "model", runtime="onnx")
        predicted = torch_model.predict(sentences)
        assert [len(p["tags"]) for p in predicted] == [3, 5, len(WORDS) * 4]  # no word dropped (windows too)
        assert predicted == onnx_model.predict(sentences)
        for sentence in predicted:
            for span in sentence["spans"]:
                assert sentence["tags"][span["start"]].startswith("B-") and span["type"] in ("PER", "LOC")
        logits = torch_model.logits(sentences)
        assert np.allclose(np.concatenate(logits), np.concatenate(onnx_model.logits(sentences)), atol=1e-4)
    capsys.readouterr()
    assert main(["predict", str(run_dir / "export" / "bilstm" / "model"), "john visited paris", "a city"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["words"] for line in lines] == [["john", "visited", "paris"], ["a", "city"]]
    assert [len(line["tags"]) for line in lines] == [3, 2]
    for line in lines:
        assert all(span["text"] == " ".join(line["words"][span["start"]:span["end"]]) for span in line["spans"])


def test_tagging_rejects_sentence_level_students(tmp_path, conll_data, tiny_teacher):
    students = [{"name": "st", "kind": "static"}]  # no per-token head
    config = load_config(_tagging_config(tmp_path, conll_data, tiny_teacher, students=students))
    with pytest.raises(ConfigError, match="students.st.kind: a 'static' student has no 'token' head"):
        run_all(config)
    assert not (config.resolved_run_dir() / "teacher").exists()  # before any work


def test_tagging_keys_belong_to_token_tagging(tmp_path, sst2_small, tiny_teacher):
    from conftest import tiny_config

    data = {"dir": str(sst2_small), "train": "sst2/train.tsv", "dev": "sst2/dev.tsv", "test": "sst2/test.tsv",
            "scheme": "iob2"}
    with pytest.raises(ConfigError, match="scheme is a setting of task 'token_tagging'"):
        load_config(tiny_config(tmp_path, sst2_small, tiny_teacher, data=data))


def test_word_annotations_are_checksummed_and_resume(tmp_path, tiny_teacher):
    from taskdistil.teacher.annotate import annotate
    from taskdistil.teacher.model import Teacher, load_pretrained, save_teacher
    from taskdistil.teacher.word_store import open_logit_store

    labels = ["B-PER", "I-PER", "O"]
    model, tokenizer = load_pretrained(str(tiny_teacher), labels, head="AutoModelForTokenClassification")
    save_teacher(model, tokenizer, tmp_path / "teacher", labels, 12, origin="tiny", task="token_tagging")
    teacher = Teacher.load(tmp_path / "teacher")
    rng = random.Random(1)
    sentences = [[w for w, _ in _sentence(rng)] for _ in range(7)] + [WORDS * 2]  # the last one: windows
    out = tmp_path / "annotations"
    annotate(teacher, sentences, out, shard_size=3, batch_size=4, overlap_words=2)
    store = open_logit_store(out, verify=True)
    assert list(store.word_counts()) == [len(s) for s in sentences]
    first = store.words(np.arange(len(sentences)))
    assert [w.shape for w in first] == [(len(s), 3) for s in sentences]
    (out / "logits-00001.npy").write_bytes(b"damaged")
    annotate(teacher, sentences, out, shard_size=3, batch_size=4, overlap_words=2)  # recomputes that shard
    again = open_logit_store(out, verify=True).words(np.arange(len(sentences)))
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(first, again))
