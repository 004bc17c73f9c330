"""Transfer sets of token tagging: unlabeled sentences as word lists (CoNLL files with the tags ignored, texts split
into words), annotated by the teacher per word and learned from by the students."""

from __future__ import annotations

import json
import random

import pytest
import yaml
from test_tagging import _sentence, _tagging_config, _write_conll

from taskdistil.cli import main
from taskdistil.config import UnlabeledSource, load_config
from taskdistil.data.conll_words import conll_sentences
from taskdistil.errors import DataError
from taskdistil.io import read_json
from taskdistil.tasks import task_kind
from taskdistil.transfer.build import build_transfer_set
from taskdistil.transfer.sources import read_unlabeled
from taskdistil.transfer.store import TransferSet
from taskdistil.transfer.word_sources import read_unlabeled_words, split_words


def test_conll_source_ignores_tags_strips_the_language_prefix_and_names_lines(tmp_path):
    path = tmp_path / "extra"
    path.write_text("-DOCSTART-\tO\n\nid:Kota\tB-LOC\nid:re:mix\tO\n\n\n\nid:Budi\tB-PER\nAda\tO\n")
    rows = list(conll_sentences(path))
    assert [w for w, _ in rows] == [["Kota", "re:mix"], ["Budi", "Ada"]]  # only the first sentence's prefix
    assert [where for _, where in rows] == [f"{path}, line 3", f"{path}, line 8"]
    assert [w for w, _ in conll_sentences(path, lang_prefix="keep")][0] == ["id:Kota", "id:re:mix"]
    plain = tmp_path / "plain.conll"
    plain.write_text("en:gb\tO\nfoo\tO\n")  # not every token prefixed: auto keeps the tokens as they are
    assert [w for w, _ in conll_sentences(plain)] == [["en:gb", "foo"]]
    (tmp_path / "bad").write_text("a\tO\n\tO\n")
    with pytest.raises(DataError, match=r"bad, line 2: empty token"):
        list(conll_sentences(tmp_path / "bad"))


def test_text_split_into_words_and_word_filters(tmp_path):
    assert split_words("Presiden Jokowi (62) tiba di Jakarta, Senin.") == [
        "Presiden", "Jokowi", "(", "62", ")", "tiba", "di", "Jakarta", ",", "Senin", "."]
    assert split_words("a-b c.", "whitespace") == ["a-b", "c."]
    (tmp_path / "u.txt").write_text("Satu dua.\n\nTiga, empat lima enam!\n?\n")
    source = UnlabeledSource(path="u.txt", min_words=2, max_words=4)
    rows = list(read_unlabeled_words(source, str(tmp_path / "u.txt")))
    assert rows == [(["Satu", "dua", "."], f"{tmp_path / 'u.txt'}, line 1")]  # 6 words: too long; "?": 1 word
    source = UnlabeledSource(path="extra", format="conll", min_words=3)
    (tmp_path / "extra").write_text("id:a\tO\n\nid:b\tO\nid:c\tO\nid:d\tO\n")
    assert [w for w, _ in read_unlabeled_words(source, str(tmp_path / "extra"))] == [["b", "c", "d"]]
    # a sentence-level task reads a CoNLL sentence as its words joined by spaces
    assert [t for t, _ in read_unlabeled(source, str(tmp_path / "extra"))] == ["b c d"]


def _tagging_transfer_config(tmp_path, transfer: dict):
    _write_conll(tmp_path / "train.txt", [[("Budi", "B-PER"), ("pergi", "O")], [("ke", "O"), ("Bali", "B-LOC")]])
    tree = {"seed": 3, "data": {"task": "token_tagging", "dir": str(tmp_path), "train": "train.txt",
                                "dev": "train.txt", "test": "train.txt"}, "transfer": transfer}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(tree))
    return load_config(tmp_path / "c.yaml")


def test_tagging_transfer_set_holds_labeled_and_unlabeled_word_lists(tmp_path):
    (tmp_path / "extra").write_text("id:Budi\tB-PER\nid:pergi\tO\n\nid:Ani\tB-PER\nid:tidur\tO\n\n"
                                    + "".join(f"id:kata{i}\tO\nid:lain\tO\n\n" for i in range(30)))
    (tmp_path / "news.txt").write_text("".join(f"Berita nomor {i}, hari ini.\n" for i in range(50)))
    config = _tagging_transfer_config(tmp_path, {"heldout": 0.0, "unlabeled": [
        {"path": "extra", "format": "conll"}, {"path": "news.txt", "max_examples": 10}]})
    data = task_kind("token_tagging").load(config)
    summary = build_transfer_set(config, data.train, tmp_path / "ts")
    ts = TransferSet(tmp_path / "ts")
    assert summary["by_origin"] == {"labeled": 2, "unlabeled": 31 + 10, "augmented": 0}
    assert summary["sources"][0]["duplicates"] == 1  # "Budi pergi" is a training sentence
    assert summary["sources"][1]["kept"] == 10 and summary["sources"][1]["examples_read"] == 50
    assert ts[0] == ["Budi", "pergi"] and ts[2] == ["Ani", "tidur"]
    news = ts[len(ts) - 1]
    assert news[:2] == ["Berita", "nomor"] and news[-4:] == [",", "hari", "ini", "."]
    assert all(isinstance(t, list) for t in ts[:]) and list(ts.labeled_rows[:3]) == [0, 1, -1]
    assert ts.where(2) == f"{tmp_path / 'extra'}, line 4"


def test_held_out_word_lists_are_written_as_words(tmp_path):
    (tmp_path / "news.txt").write_text("".join(f"Berita nomor {i}.\n" for i in range(200)))
    config = _tagging_transfer_config(tmp_path, {"heldout": 0.2, "unlabeled": [{"path": "news.txt"}]})
    summary = build_transfer_set(config, task_kind("token_tagging").load(config).train, tmp_path / "ts")
    rows = [json.loads(line) for line in (tmp_path / "ts" / "heldout.jsonl").read_text().splitlines()]
    assert 10 < len(rows) == summary["heldout"]["count"] < 80
    assert all(r["words"][:2] == ["Berita", "nomor"] for r in rows)
    assert summary["by_origin"]["unlabeled"] == 200 - len(rows)


def test_tagging_run_annotates_unlabeled_and_augmented_sentences_and_students_learn_from_all(tmp_path, tiny_teacher):
    rng = random.Random(5)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for name, n in (("train", 30), ("dev", 8), ("test", 8)):
        _write_conll(data_dir / f"{name}.txt", [_sentence(rng) for _ in range(n)])
    _write_conll(data_dir / "extra", [[(f"id:{w}", "O") for w, _ in _sentence(rng)] for _ in range(40)])
    (data_dir / "news.txt").write_text("".join(f"mary visited london, paris and jakarta {i}.\n" for i in range(30)))
    path = _tagging_config(tmp_path, data_dir, tiny_teacher)
    tree = yaml.safe_load(open(path))
    tree["transfer"] = {"heldout": 0.0, "unlabeled": [{"path": "extra", "format": "conll"},
                                                      {"path": "news.txt", "max_examples": 20}],
                        "augment": {"pos": "none", "n_iter": 2, "p_mask": 0.2, "p_ng": 0.3}}
    tree["exam"]["runtimes"] = ["torch"]
    for student in tree["students"]:
        student["train"]["epochs"] = 1
    open(path, "w").write(yaml.safe_dump(tree))
    for stage in ("teacher", "transfer", "annotate", "distill"):
        assert main([stage, path]) == 0
    run_dir = tmp_path / "run"
    counts = read_json(run_dir / "transfer" / "summary.json")["by_origin"]
    assert counts["labeled"] == 30 and counts["unlabeled"] > 40 and counts["augmented"] > 20
    from taskdistil.teacher.word_store import open_logit_store

    ts = TransferSet(run_dir / "transfer")
    store = open_logit_store(run_dir / "annotations", verify=True)
    assert list(store.word_counts()) == [len(s) for s in ts[:]]  # every sentence, labeled or not, per word
    assert not any(w.startswith("id:") for s in ts[:] for w in s)
    for name in ("bilstm", "cnn"):
        provenance = read_json(run_dir / "students" / name / "model" / "config.json")["provenance"]
        assert provenance["trained_on"] == len(ts) and provenance["transfer_origins"] == counts


def test_augmented_tagging_rows_are_word_lists_without_gold_tags(tmp_path):
    config = _tagging_transfer_config(tmp_path, {"augment": {"pos": "none", "n_iter": 4, "p_mask": 0.5,
                                                             "p_ng": 0.0}})
    summary = build_transfer_set(config, task_kind("token_tagging").load(config).train, tmp_path / "ts")
    ts = TransferSet(tmp_path / "ts")
    rows = ts.rows(0, len(ts))
    augmented = [r for r in rows if r["origin"] == "augmented"]
    assert summary["by_origin"]["augmented"] == len(augmented) > 0
    for row in augmented:
        parent = rows[row["parent"]]["words"]
        assert len(row["words"]) == len(parent) and "[MASK]" in row["words"]
        assert all(w in (p, "[MASK]") for w, p in zip(row["words"], parent))
    assert list(ts.labeled_rows[2:]) == [-1] * len(augmented)  # the teacher tags them: no gold carried
