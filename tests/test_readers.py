"""taskdistil.data.readers / labels: formats, error messages with file and line, label order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taskdistil.data.labels import LabelMap
from taskdistil.data.readers import Split, parse_hf_source, read_split
from taskdistil.errors import DataError

REPO_ROOT = Path(__file__).resolve().parents[1]
SST2_DIR = REPO_ROOT.parent / "shared" / "data" / "sst2"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def data_error(*args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        read_split(*args, **kwargs)
    return str(info.value)


# -- TSV ----------------------------------------------------------------------------------

def test_tsv_with_header(tmp_path):
    path = write(tmp_path / "train.tsv",
                 "label\tsentence\n1\tit 's a charming journey . \n0\t\"quoted\" stays as is\n\n1\tlast\n")
    split = read_split(str(path), "sentence", "label")
    assert split.texts == ["it 's a charming journey .", '"quoted" stays as is', "last"]
    assert split.labels == ["1", "0", "1"]
    assert split.lines == [2, 3, 5]  # the blank line 4 is skipped but still counted
    assert len(split) == 3
    assert split.where(2) == f"{path}, line 5"


def test_tsv_without_header_by_integer_columns(tmp_path):
    # IndoNLU SmSA style: text<TAB>label, no header
    path = write(tmp_path / "train_preprocess.tsv",
                 "warung ini enak sekali\tpositive\npelayanan lambat\tnegative\nbiasa saja\tneutral\n")
    split = read_split(str(path), 0, 1, header=False)
    assert split.texts == ["warung ini enak sekali", "pelayanan lambat", "biasa saja"]
    assert split.labels == ["positive", "negative", "neutral"]
    assert split.lines == [1, 2, 3]
    # digit strings (as from --set data.text_column=0) work too; columns can be swapped
    swapped = read_split(str(path), "1", "0", header=False)
    assert swapped.texts == ["positive", "negative", "neutral"]


def test_tsv_without_header_needs_integer_columns(tmp_path):
    path = write(tmp_path / "t.tsv", "good\t1\n")
    message = data_error(str(path), "sentence", 1, header=False)
    assert str(path) in message and "data.text_column" in message


def test_tsv_wrong_column_count_names_line(tmp_path):
    path = write(tmp_path / "bad.tsv", "sentence\tlabel\na\t1\n\nb\t0\textra\nc\t1\n")
    message = data_error(str(path), "sentence", "label")
    assert f"{path}, line 4:" in message
    assert "expected 2 columns, found 3" in message


def test_tsv_headerless_too_few_columns_names_line(tmp_path):
    path = write(tmp_path / "bad.tsv", "a\t1\nb\t0\nno label here\n")
    message = data_error(str(path), 0, 1, header=False)
    assert f"{path}, line 3:" in message


def test_tsv_empty_label_names_line(tmp_path):
    path = write(tmp_path / "bad.tsv", "sentence\tlabel\na\t1\nb\t0\nc\t  \n")
    message = data_error(str(path), "sentence", "label")
    assert f"{path}, line 4: empty label" in message


def test_tsv_empty_text_names_line(tmp_path):
    path = write(tmp_path / "bad.tsv", "sentence\tlabel\na\t1\n \t0\n")
    message = data_error(str(path), "sentence", "label")
    assert f"{path}, line 3: empty text" in message


def test_missing_column_name_in_header(tmp_path):
    path = write(tmp_path / "bad.tsv", "text\tlabel\na\t1\n")
    message = data_error(str(path), "sentence", "label")
    assert f"{path}, line 1:" in message
    assert "'sentence'" in message and "data.text_column" in message
    assert "'text'" in message  # the columns that do exist
    message = data_error(str(path), "text", "category")
    assert f"{path}, line 1:" in message and "data.label_column" in message


def test_empty_file(tmp_path):
    path = write(tmp_path / "empty.tsv", "")
    message = data_error(str(path), "sentence", "label")
    assert str(path) in message and "empty" in message
    headerless = data_error(str(path), 0, 1, header=False)
    assert str(path) in headerless


def test_header_only_file_has_no_examples(tmp_path):
    path = write(tmp_path / "h.tsv", "sentence\tlabel\n")
    message = data_error(str(path), "sentence", "label")
    assert str(path) in message and "no examples" in message


def test_missing_file_and_unknown_extension(tmp_path):
    message = data_error(str(tmp_path / "absent.tsv"))
    assert str(tmp_path / "absent.tsv") in message and "not found" in message
    odd = write(tmp_path / "data.parquet", "x")
    message = data_error(str(odd))
    assert str(odd) in message and "data.format" in message


def test_explicit_format_overrides_extension(tmp_path):
    path = write(tmp_path / "data.dat", "sentence,label\n\"a, b\",1\nc,0\n")
    split = read_split(str(path), fmt="csv")
    assert split.texts == ["a, b", "c"]


def test_non_utf8_file(tmp_path):
    path = tmp_path / "latin.tsv"
    path.write_bytes("sentence\tlabel\ncaf\u00e9\t1\n".encode("latin-1"))
    message = data_error(str(path))
    assert str(path) in message and "UTF-8" in message


# -- CSV ----------------------------------------------------------------------------------

def test_csv_quoted_commas_and_bom_header(tmp_path):
    text = (
        "\ufeffsentence,label\n"
        "\"hello, world\",pos\n"
        "\"she said \"\"hi, there\"\"\",neg\n"
        "plain,pos\n"
    )
    path = write(tmp_path / "train.csv", text)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    split = read_split(str(path), "sentence", "label")  # 'sentence' found despite the BOM
    assert split.texts == ["hello, world", 'she said "hi, there"', "plain"]
    assert split.labels == ["pos", "neg", "pos"]
    assert split.lines == [2, 3, 4]


def test_csv_wrong_column_count_names_line(tmp_path):
    path = write(tmp_path / "bad.csv", "sentence,label\n\"a, b\",1\nunquoted, comma,0\n")
    message = data_error(str(path), "sentence", "label")
    assert f"{path}, line 3:" in message and "found 3" in message


# -- JSONL --------------------------------------------------------------------------------

def jsonl(rows: list) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


def test_jsonl(tmp_path):
    path = write(tmp_path / "train.jsonl", jsonl([
        {"text": " good movie ", "y": 1, "extra": None},
        "",
        {"text": "bad movie", "y": 0},
        {"text": "\u00e9l\u00e8ve", "y": "neutral"},
    ]))
    split = read_split(str(path), "text", "y")
    assert split.texts == ["good movie", "bad movie", "\u00e9l\u00e8ve"]
    assert split.labels == ["1", "0", "neutral"]  # labels are strings
    assert split.lines == [1, 3, 4]


def test_jsonl_invalid_json_names_line(tmp_path):
    path = write(tmp_path / "bad.jsonl", jsonl([{"text": "a", "label": 1}, {"text": "b", "label": 0},
                                                 '{"text": "c", "label": ']))
    message = data_error(str(path), "text", "label")
    assert f"{path}, line 3: not valid JSON" in message


@pytest.mark.parametrize(
    "row, expected",
    [
        ({"label": 1}, "no key 'text'"),
        ({"text": "x"}, "no key 'label'"),
        ({"text": "  ", "label": 1}, "empty or non-string text"),
        ({"text": 5, "label": 1}, "empty or non-string text"),
        ({"text": "x", "label": None}, "empty label"),
        ({"text": "x", "label": ""}, "empty label"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_jsonl_bad_rows_name_line(tmp_path, row, expected):
    path = write(tmp_path / "bad.jsonl", jsonl([{"text": "a", "label": 1}, "", row]))
    message = data_error(str(path), "text", "label")
    assert f"{path}, line 3: {expected}" in message


def test_jsonl_empty_file(tmp_path):
    path = write(tmp_path / "empty.jsonl", "\n\n")
    message = data_error(str(path), "text", "label")
    assert str(path) in message and "no examples" in message


# -- labels -------------------------------------------------------------------------------

def split_of(labels: list[str], source: str = "mem.tsv") -> Split:
    return Split(source, [f"t{i}" for i in range(len(labels))], labels, [i + 2 for i in range(len(labels))])


def test_numeric_labels_ordered_numerically():
    labels = LabelMap.from_split(split_of(["10", "2", "1", "2", "0", "10"]))
    assert labels.labels == ("0", "1", "2", "10")
    assert len(labels) == 4
    assert labels.ids(split_of(["10", "2", "0"])) == [3, 2, 0]


def test_negative_numeric_labels():
    assert LabelMap.from_split(split_of(["1", "-1", "0"])).labels == ("-1", "0", "1")


def test_string_labels_ordered_alphabetically():
    labels = LabelMap.from_split(split_of(["positive", "negative", "neutral", "positive"]))
    assert labels.labels == ("negative", "neutral", "positive")
    assert labels.ids(split_of(["positive", "negative"])) == [2, 0]
    # mixed: not all numeric -> plain string order ("10" < "2" < "a")
    assert LabelMap.from_split(split_of(["2", "10", "a"])).labels == ("10", "2", "a")


def test_single_label_training_split_is_refused():
    with pytest.raises(DataError) as info:
        LabelMap.from_split(split_of(["1", "1", "1"], source="train.tsv"))
    assert "train.tsv" in str(info.value)


def test_unseen_label_names_label_file_and_line(tmp_path):
    train = read_split(str(write(tmp_path / "train.tsv", "sentence\tlabel\na\t0\nb\t1\n")))
    dev_path = write(tmp_path / "dev.tsv", "sentence\tlabel\nc\t1\n\nd\t0\ne\t2\n")
    labels = LabelMap.from_split(train)
    with pytest.raises(DataError) as info:
        labels.ids(read_split(str(dev_path)))
    message = str(info.value)
    assert f"{dev_path}, line 5" in message
    assert "'2'" in message
    assert "['0', '1']" in message  # the known labels


def test_unseen_label_in_hf_split_names_example():
    labels = LabelMap(("neg", "pos"))
    split = Split("hf:x@validation", ["a", "b"], ["pos", "meh"], [])
    with pytest.raises(DataError) as info:
        labels.ids(split)
    assert "hf:x@validation, example 1" in str(info.value) and "'meh'" in str(info.value)


# -- the real SST-2 exam split -----------------------------------------------------------

def test_real_sst2_test_split():
    if not SST2_DIR.is_dir():
        pytest.skip(f"{SST2_DIR} not present")
    split = read_split(str(SST2_DIR / "test.tsv"), "sentence", "label")
    assert len(split) == 872
    assert set(split.labels) == {"0", "1"}
    assert all(t and t == t.strip() for t in split.texts)
    assert split.lines[0] == 2 and split.lines[-1] == 873
    assert LabelMap.from_split(split).labels == ("0", "1")


# -- Hugging Face datasets ----------------------------------------------------------------

@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory) -> Path:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({
        "text": datasets.Value("string"),
        "label": datasets.ClassLabel(names=["negative", "positive"]),
        "score": datasets.Value("int64"),
    })
    dd = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict(
            {"text": ["good", "bad", "fine"], "label": [1, 0, 1], "score": [5, 1, 4]}, features=features),
        "validation": datasets.Dataset.from_dict(
            {"text": [" great ", "awful"], "label": [1, 0], "score": [5, 1]}, features=features),
    })
    path = tmp_path_factory.mktemp("hf") / "tiny"
    dd.save_to_disk(str(path))
    return path


def test_hf_split_returns_class_names(hf_dir):
    split = read_split("hf:" + str(hf_dir) + "@validation", "text", "label")
    assert split.texts == ["great", "awful"]
    assert split.labels == ["positive", "negative"]
    assert split.source == "hf:" + str(hf_dir) + "@validation"
    assert split.where(1) == f"hf:{hf_dir}@validation, example 1"


def test_hf_default_split_and_plain_int_labels(hf_dir):
    split = read_split("hf:" + str(hf_dir), "text", "score", default_hf_split="train")
    assert split.texts == ["good", "bad", "fine"]
    assert split.labels == ["5", "1", "4"]  # not a ClassLabel: str of the value


def test_hf_missing_split(hf_dir):
    message = data_error("hf:" + str(hf_dir) + "@test", "text", "label")
    assert "'test'" in message and str(hf_dir) in message


def test_hf_missing_column(hf_dir):
    message = data_error("hf:" + str(hf_dir) + "@validation", "sentence", "label")
    assert "'sentence'" in message and "data.text_column" in message and str(hf_dir) in message
    message = data_error("hf:" + str(hf_dir) + "@validation", "text", "category")
    assert "'category'" in message and "data.label_column" in message


def test_parse_hf_source():
    assert parse_hf_source("hf:glue:sst2@validation", "train") == ("glue", "sst2", "validation")
    assert parse_hf_source("hf:imdb", "train") == ("imdb", None, "train")
    assert parse_hf_source("hf:user/ds@test", "train") == ("user/ds", None, "test")
    with pytest.raises(DataError):
        parse_hf_source("hf:@test", "train")
