"""Token tagging data layer: readers, tag schemes, windows, metrics (fast; small real files are read)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taskdistil.data.tag_schemes import (
    TRAINING_SCHEME,
    check_scheme,
    convert,
    detect_scheme,
    entity_types,
    ill_formed,
    label_list,
    spans,
    training_scheme,
)
from taskdistil.data.tagged import read_tagged
from taskdistil.data.windows import Window, join_windows, word_windows
from taskdistil.errors import DataError
from taskdistil.tasks.tagging_metrics import tagging_metrics


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# ---------------------------------------------------------------- readers

def test_conll_blank_runs_docstart_lang_prefix_and_lines(tmp_path):
    path = _write(tmp_path, "train", "-DOCSTART- -X- O O\n\nen:John\tB-PER\nen:runs\tO\n\n\n\nen:Paris\tB-LOC\n"
                                     "en:en:\tO\n")
    split = read_tagged(path)
    assert split.tokens == [["John", "runs"], ["Paris", "en:"]]
    assert split.tags == [["B-PER", "O"], ["B-LOC", "O"]]
    assert split.lines == [3, 8]
    assert split.where(1) == f"{path}, line 8"
    assert read_tagged(path, lang_prefix="keep").tokens[0] == ["en:John", "en:runs"]


def test_conll_lang_prefix_auto_keeps_unprefixed_files(tmp_path):
    path = _write(tmp_path, "t.txt", "de:facto\tO\nBerlin\tB-LOC\n")
    assert read_tagged(path).tokens == [["de:facto", "Berlin"]]
    assert read_tagged(path, lang_prefix="strip").tokens == [["facto", "Berlin"]]


def test_conll_tab_columns_keep_spaces_in_tokens_and_whitespace_columns(tmp_path):
    tab = _write(tmp_path, "posp.txt", "salah satu\tB-KUA\nrumah\tB-NNO\n")
    assert read_tagged(tab).tokens == [["salah satu", "rumah"]]
    spaced = _write(tmp_path, "conll03.txt", "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n")
    assert read_tagged(spaced).tags == [["B-ORG", "O"]]
    assert read_tagged(spaced, tag_column=1).tags == [["NNP", "VBZ"]]


@pytest.mark.parametrize("line", ["Paris\n", "Paris\t\n", "Paris   \n"])
def test_conll_line_without_tag_names_file_and_line(tmp_path, line):
    path = _write(tmp_path, "bad.txt", "John\tB-PER\n\n" + line)
    with pytest.raises(DataError, match=r"bad.txt, line 3: no tag"):
        read_tagged(path)


def test_empty_file_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no sentences"):
        read_tagged(_write(tmp_path, "empty.txt", "\n\n-DOCSTART- O\n\n"))
    with pytest.raises(DataError, match="file not found"):
        read_tagged(str(tmp_path / "missing.txt"))


def test_jsonl_lists_and_python_literal_strings(tmp_path):
    rows = [{"tokens": ["I", "love", "Paris"], "tags": ["O", "O", "B-LOC"]},
            {"tokens": "['Ann']", "tags": "['B-PER']"}]
    path = _write(tmp_path, "t.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    split = read_tagged(path, token_column="tokens", tag_column="tags")
    assert split.tokens == [["I", "love", "Paris"], ["Ann"]] and split.lines == [1, 2]
    assert read_tagged(path).tags == split.tags  # default columns: first and last key


def test_csv_json_and_python_lists(tmp_path):
    path = _write(tmp_path, "t.csv", 'tokens,tags\n"[""a"", ""b""]","[""O"", ""B-X""]"\n"[\'c\']","[\'O\']"\n')
    split = read_tagged(path, token_column="tokens", tag_column="tags")
    assert split.tokens == [["a", "b"], ["c"]] and split.tags == [["O", "B-X"], ["O"]]
    assert split.lines == [2, 3]


def test_token_list_row_with_different_lengths_names_line(tmp_path):
    path = _write(tmp_path, "t.jsonl", '{"tokens": ["a"], "tags": ["O"]}\n{"tokens": ["a", "b"], "tags": ["O"]}\n')
    with pytest.raises(DataError, match=r"t.jsonl, line 2: 2 tokens but 1 tags"):
        read_tagged(path)
    path = _write(tmp_path, "t.csv", 'tokens,tags\n"[\'a\', \'b\']","[\'O\']"\n')
    with pytest.raises(DataError, match=r"t.csv, line 2: 2 tokens but 1 tags"):
        read_tagged(path)


def test_unparsable_list_and_no_code_execution(tmp_path):
    path = _write(tmp_path, "t.csv", 'tokens,tags\n"__import__(\'os\').getcwd()","[\'O\']"\n')
    with pytest.raises(DataError, match=r"t.csv, line 2: the token column is not a list"):
        read_tagged(path)


def test_empty_sentence_rows_are_skipped_and_counted(tmp_path):
    path = _write(tmp_path, "t.jsonl", '{"tokens": [], "tags": []}\n{"tokens": ["a"], "tags": ["O"]}\n'
                                       '{"tokens": "[]", "tags": "[]"}\n')
    split = read_tagged(path)
    assert len(split) == 1 and split.empty_skipped == 2 and split.lines == [2]
    only_empty = _write(tmp_path, "e.jsonl", '{"tokens": [], "tags": []}\n')
    with pytest.raises(DataError, match="no sentences"):
        read_tagged(only_empty)


def test_hf_saved_dataset_class_label_tags(tmp_path):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER"]))})
    ds = datasets.Dataset.from_dict({"tokens": [["Ann", "runs"]], "ner_tags": [[1, 0]]}, features=features)
    ds.save_to_disk(str(tmp_path / "hf"))
    split = read_tagged(f"hf:{tmp_path / 'hf'}", token_column="tokens", tag_column="ner_tags")
    assert split.tags == [["B-PER", "O"]] and split.where(0).endswith("example 0")


def test_real_shared_tagging_files(shared_data):
    wikiann = read_tagged(str(shared_data / "wikiann" / "en" / "test"))
    assert len(wikiann) == 10_000 and wikiann.tokens[0][0].find("en:") == -1
    posp = read_tagged(str(shared_data / "indonlu" / "posp_pos-prosa" / "test_preprocess.txt"))
    assert len(posp) == 840 and any(" " in t for s in posp.tokens for t in s)
    nergrit = read_tagged(str(shared_data / "indonlu" / "nergrit_ner-grit" / "test_preprocess.txt"))
    assert len(nergrit) == 209


# ---------------------------------------------------------------- tag schemes

def _where(i: int) -> str:
    return f"f.txt, line {10 * i + 1}"


IOB1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "O", "I-ORG", "B-ORG", "I-ORG"]
SPANS = [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5), ("ORG", 6, 7), ("ORG", 7, 9)]


def test_round_trip_iob1_iob2_bioes_iob2_keeps_spans():
    iob2 = convert(IOB1, "iob1", "iob2")
    assert iob2 == ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "O", "B-ORG", "B-ORG", "I-ORG"]
    bioes = convert(iob2, "iob2", "bioes")
    assert bioes == ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "O", "S-ORG", "B-ORG", "E-ORG"]
    assert convert(bioes, "bioes", "iob2") == iob2
    assert convert(iob2, "iob2", "iob1") == IOB1
    for seq, scheme in ((IOB1, "iob1"), (iob2, "iob2"), (bioes, "bioes")):
        assert spans(seq, scheme) == SPANS


def test_io_merges_adjacent_spans_and_bare_tags_are_untyped():
    assert convert(["B-X", "B-X", "O", "B-Y"], "iob2", "io") == ["I-X", "I-X", "O", "I-Y"]
    assert spans(["B", "I", "O", "B", "B"], "iob2") == [("", 0, 2), ("", 3, 4), ("", 4, 5)]
    assert convert(["B", "I", "O", "B"], "iob2", "bioes") == ["B", "E", "O", "S"]


def test_ill_formed_tags_are_repaired_and_counted():
    seq = ["O", "I-X", "I-X", "B-Y", "I-X"]
    assert convert(seq, "iob2", "iob2") == ["O", "B-X", "I-X", "B-Y", "B-X"]
    assert ill_formed(seq, "iob2") == 2 and ill_formed(["B-X", "I-X"], "iob2") == 0
    assert ill_formed(["B-X", "O", "E-Y"], "bioes") == 2  # B without E, E without B


@pytest.mark.parametrize("tags, scheme", [
    ([["B-PER", "I-PER", "O"], ["B-LOC"]], "iob2"),
    ([["I-PER", "I-PER", "B-PER", "O"], ["O", "I-LOC"]], "iob1"),
    ([["S-PER", "O", "B-LOC", "E-LOC"]], "bioes"),
    ([["I-PER", "O", "I-LOC"]], "io"),
    ([["B", "I", "O", "B"]], "iob2"),
    ([["I", "O", "I"]], "io"),
    ([["NN", "VB", "DT"]], "plain"),
    ([["B-NNO", "B-VBI", "B-SYM"]], "plain"),  # IndoNLU POSP: POS tags written with a B- prefix
    ([["O", "O"]], "iob2"),
    ([["NN", "S", "VB", "DT", "I"]], "plain"),  # a few POS tags that look like bare span tags
])
def test_detect_scheme(tags, scheme):
    assert detect_scheme(tags, _where) == scheme


def test_tag_outside_scheme_names_file_line_and_tag(tmp_path):
    path = _write(tmp_path, "t.txt", "John\tB-PER\nruns\tE-PER\n\nParis\tB-LOC\nis\tPLACE\n")
    split = read_tagged(path)
    with pytest.raises(DataError, match=r"t.txt, line 2: tag 'E-PER' is outside the iob2 scheme"):
        check_scheme(split.tags, "iob2", split.where)
    with pytest.raises(DataError, match=r"t.txt, line 4, word 2: tag 'PLACE' is outside the iob2 scheme"):
        check_scheme(split.tags[1:], "iob2", lambda i: split.where(i + 1))  # a one-argument where
    with pytest.raises(DataError, match=r"t.txt, line 5: tag 'PLACE' is outside the bioes scheme"):
        detect_scheme(split.tags, split.where)
    check_scheme(split.tags, "plain", split.where)


def test_mixed_iob1_iob2_in_one_file_is_an_error(tmp_path):
    path = _write(tmp_path, "mixed.txt", "a\tB-PER\nb\tI-PER\n\nc\tO\nd\tI-LOC\n\ne\tB-ORG\n")
    split = read_tagged(path)
    with pytest.raises(DataError, match=r"mixed IOB1 and IOB2.*line 5 \('I-LOC'\).*line 1 \('B-PER'\)"):
        detect_scheme(split.tags, split.where)
    # a declared scheme reads it leniently; the slip is counted
    check_scheme(split.tags, "iob2", split.where)
    assert sum(ill_formed(t, "iob2") for t in split.tags) == 1


def test_rare_slips_below_max_mixed_read_as_majority_scheme():
    tags = [["B-X", "I-X", "O"]] * 200 + [["O", "I-X"]]
    assert detect_scheme(tags, _where) == "iob2"
    with pytest.raises(DataError, match="mixed"):
        detect_scheme(tags, _where, max_mixed=0.0)


def test_label_list_and_training_scheme():
    types = entity_types([["B-PER", "O", "I-LOC"]], "iob2")
    assert types == ["LOC", "PER"]
    assert label_list(types, "iob2") == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert training_scheme("bioes") == TRAINING_SCHEME == "iob2" and training_scheme("plain") == "plain"
    with pytest.raises(ValueError, match="cannot convert"):
        convert(["NN"], "plain", "iob2")


def test_detected_schemes_of_shared_datasets(shared_data):
    files = {"wikiann/en/test": "iob2", "wikiann/id/test": "iob2",
             "indonlu/posp_pos-prosa/test_preprocess.txt": "plain",
             "indonlu/nergrit_ner-grit/test_preprocess.txt": "iob2",
             "indonlu/terma_term-extraction-airy/test_preprocess.txt": "iob2"}
    for file, scheme in files.items():
        split = read_tagged(str(shared_data / file))
        assert detect_scheme(split.tags, split.where) == scheme, file
    terma = read_tagged(str(shared_data / "indonlu/terma_term-extraction-airy/test_preprocess.txt"))
    assert sum(ill_formed(t, "iob2") for t in terma.tags) == 5  # I- tags starting a span, repaired


# ---------------------------------------------------------------- metrics

def test_span_metrics_strict_micro_and_per_type():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-LOC"], ["I-ORG", "O"]]  # the ORG span is ill-formed: strict mode drops it
    ev = tagging_metrics(pred, gold, "iob2")
    assert ev.primary == "f1"
    assert ev.metrics["precision"] == pytest.approx(1.0) and ev.metrics["recall"] == pytest.approx(2 / 3)
    assert ev.metrics["f1"] == pytest.approx(0.8) and ev.score == pytest.approx(0.8)
    assert ev.metrics["f1/PER"] == 1.0 and ev.metrics["f1/ORG"] == 0.0
    assert ev.metrics["accuracy"] == pytest.approx(5 / 6)
    wrong_boundary = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "O"]]
    assert tagging_metrics(wrong_boundary, gold, "iob2").metrics["f1/PER"] == 0.0


def test_span_metrics_gold_slips_are_repaired_and_bioes_scored_strictly():
    gold = [["O", "I-X", "I-X"]]  # an I- start in IOB2 gold still means the span X[1:3]
    assert tagging_metrics([["O", "B-X", "I-X"]], gold, "iob2").score == 1.0
    assert tagging_metrics([["B-X", "E-X", "S-Y"]], [["B-X", "E-X", "S-Y"]], "bioes").score == 1.0
    assert tagging_metrics([["B-X", "I-X", "S-Y"]], [["B-X", "E-X", "S-Y"]], "bioes").score == pytest.approx(2 / 3)
    assert tagging_metrics([["I-X", "I-X"]], [["I-X", "I-X"]], "io").score == 1.0


def test_plain_metrics_are_token_accuracy_and_lengths_checked():
    ev = tagging_metrics([["B-NNO", "B-VBI", "B-SYM"]], [["B-NNO", "B-NNO", "B-SYM"]], "plain")
    assert ev.primary == "accuracy" and ev.score == pytest.approx(2 / 3) and "f1" not in ev.metrics
    # IndoNLU's POSP F1 (every word a one-word B- span) is token accuracy
    assert tagging_metrics([["B-NNO", "B-VBI", "B-SYM"]], [["B-NNO", "B-NNO", "B-SYM"]], "iob2").score == ev.score
    with pytest.raises(ValueError, match="sentence 0: 1 predicted tags for 2 words"):
        tagging_metrics([["O"]], [["O", "O"]], "iob2")


# ---------------------------------------------------------------- windows

def _check_windows(counts: list[int], max_subwords: int, overlap: int) -> list[Window]:
    windows = word_windows(counts, max_subwords, overlap)
    kept = [i for w in windows for i in range(w.keep_start, w.keep_end)]
    assert kept == list(range(len(counts)))  # every word kept exactly once, in order
    for w in windows:
        assert w.start <= w.keep_start < w.keep_end <= w.end
        assert sum(counts[w.start:w.end]) <= max_subwords or (w.cut and w.end - w.start == 1)
    assert join_windows(windows, [list(range(w.start, w.end)) for w in windows]) == list(range(len(counts)))
    return windows


def test_short_sentence_is_one_window_and_empty_has_none():
    assert word_windows([1, 2, 3], 10, 2) == [Window(0, 3, 0, 3)]
    assert word_windows([], 10, 2) == []


def test_long_sentence_windows_overlap_fit_and_keep_every_word_once():
    windows = _check_windows([1] * 10, 4, 2)
    assert [(w.start, w.end) for w in windows][:2] == [(0, 4), (2, 6)]
    assert (windows[0].keep_end, windows[1].keep_start) == (3, 3)  # the overlap [2, 4) is split in its middle


@pytest.mark.parametrize("seed", range(20))
def test_random_windows_round_trip(seed):
    import random
    rng = random.Random(seed)
    counts = [rng.randint(1, 5) for _ in range(rng.randint(1, 120))]
    _check_windows(counts, rng.randint(5, 30), rng.randint(0, 8))


def test_word_longer_than_window_stands_alone_and_is_marked_cut():
    windows = _check_windows([1, 1, 9, 1, 1], 4, 1)
    cut = [w for w in windows if w.cut]
    assert [(w.start, w.end) for w in cut] == [(2, 3)]


def test_join_windows_concatenates_arrays():
    import numpy as np
    windows = word_windows([1] * 6, 4, 2)
    logits = [np.full((w.end - w.start, 3), k, dtype=np.float32) for k, w in enumerate(windows)]
    joined = join_windows(windows, logits)
    assert joined.shape == (6, 3) and list(joined[:, 0]) == [0, 0, 0, 1, 1, 1]


# ---------------------------------------------------------------- bad input, as the task kind reads it

def _load(tmp_path: Path, train_text: str, dev_text: str, **data):
    import yaml

    from taskdistil.config import load_config
    from taskdistil.tasks import task_kind

    for name, text in (("train.txt", train_text), ("dev.txt", dev_text)):
        _write(tmp_path, name, text)
    tree = {"data": {"task": "token_tagging", "dir": str(tmp_path), **{"train": "train.txt", "dev": "dev.txt",
                                                                        "test": "dev.txt", **data}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(tree))
    return task_kind("token_tagging").load(load_config(tmp_path / "c.yaml"))


TRAIN = "Budi\tB-PER\nke\tO\nBali\tB-LOC\n\nAni\tB-PER\nLee\tI-PER\n"


def test_dev_tag_outside_the_scheme_or_unseen_in_training_names_file_line_and_tag(tmp_path):
    with pytest.raises(DataError, match=r"dev.txt, line 4: tag 'E-PER' is outside the iob2 scheme"):
        _load(tmp_path, TRAIN, "a\tO\n\nb\tO\nc\tE-PER\n")
    with pytest.raises(DataError, match=r"dev.txt, line 4: tag 'B-ORG' \(as iob2\) does not occur in the training"):
        _load(tmp_path, TRAIN, "a\tO\n\nb\tO\nc\tB-ORG\n")
    with pytest.raises(DataError, match=r"dev.txt, line 2: no tag"):
        _load(tmp_path, TRAIN, "a\tO\nParis\n")


def test_runs_of_blank_and_whitespace_lines_make_no_empty_sentence_and_empty_rows_are_counted(tmp_path, capsys):
    data = _load(tmp_path, TRAIN.replace("\n\n", "\n\n \t \n\t\n\n\n"), "a\tO\n\n\n\n\nb\tB-LOC\n")
    assert [len(s) for s in data.inputs("train")] == [3, 2] and data.dev.lines == [1, 6]
    assert data.skipped == {"train": 0, "dev": 0, "test": 0}
    _write(tmp_path, "t.jsonl", '{"tokens": [], "tags": []}\n{"tokens": ["a", "b"], "tags": ["B-PER", "O"]}\n'
                                '{"tokens": "[]", "tags": "[]"}\n{"tokens": ["c"], "tags": ["B-LOC"]}\n')
    capsys.readouterr()
    data = _load(tmp_path, TRAIN, "a\tO\n", train="t.jsonl")
    assert data.skipped["train"] == 2 and len(data.inputs("train")) == 2
    assert "train: 2 empty sentence(s) skipped" in capsys.readouterr().err


def test_mixed_iob1_iob2_training_file_fails_naming_both_lines(tmp_path):
    with pytest.raises(DataError, match=r"mixed IOB1 and IOB2.*line 5 \('I-LOC'\).*line 1 \('B-PER'\)"):
        _load(tmp_path, "a\tB-PER\nb\tI-PER\n\nc\tO\nd\tI-LOC\n", "a\tO\n")
    assert _load(tmp_path, "a\tB-PER\nb\tI-PER\n\nc\tO\nd\tI-LOC\n", "a\tO\n", scheme="iob2").repaired["train"] == 1


def test_token_list_rows_of_different_lengths_fail_at_load(tmp_path):
    _write(tmp_path, "t.jsonl", '{"tokens": ["a"], "tags": ["B-PER"]}\n{"tokens": ["a", "b"], "tags": ["O"]}\n')
    with pytest.raises(DataError, match=r"t.jsonl, line 2: 2 tokens but 1 tags"):
        _load(tmp_path, TRAIN, "a\tO\n", train="t.jsonl")


def test_sentence_longer_than_the_teacher_is_windowed_and_counted_in_the_log(tiny_teacher, capsys):
    from transformers import AutoTokenizer

    from taskdistil.teacher.words import encode_teacher_words

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_teacher))
    long = ["extraordinarily"] * 12 + ["paris"]
    capsys.readouterr()
    encoding = encode_teacher_words(tokenizer, [long, ["a", "city"], long], 16, 2, "training split", "token_tagging")
    err = capsys.readouterr().err
    assert "[teacher] training split: 3 sentences" in err and "2 sentences split into overlapping windows" in err
    kept = [w for i in encoding.by_sentence[0] for w in range(encoding.pieces[i].keep_start,
                                                              encoding.pieces[i].keep_end)]
    assert kept == list(range(len(long)))  # every word predicted once: no gold tag truncated
    assert all(len(p.ids) <= 16 for p in encoding.pieces)
    encode_teacher_words(tokenizer, [["a", "city"]], 16, 2, "dev split", "token_tagging")
    assert capsys.readouterr().err == ""  # nothing windowed: nothing logged
