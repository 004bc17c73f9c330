"""Token tagging data layer: readers, tag schemes, windows, metrics (fast; small real files are read)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taskdistil.data.tagged import read_tagged
from taskdistil.errors import DataError


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
