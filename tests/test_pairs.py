"""Sentence-pair classification: reading MRPC and WReTE as shipped, pair encoding with token types, the siamese
students' feature layout, config errors, and a tiny end-to-end run (teacher, augmented transfer set, siamese
BiLSTM and CNN, ONNX export with parity, exam, prediction on pairs in every runtime)."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

import taskdistil
from taskdistil.cli import main
from taskdistil.config import load_config
from taskdistil.data import read_split
from taskdistil.errors import ConfigError, DataError
from taskdistil.io import read_json
from taskdistil.students.bilstm import BiLSTMConfig, BiLSTMStudent
from taskdistil.students.cnn import CNNConfig, CNNStudent
from taskdistil.students.tokenizer import WordPieceTokenizer
from taskdistil.teacher.model import WithSegments, encode_texts
from taskdistil.train.batching import pad_ids

from conftest import _slice_tsv

MRPC = {"text_column": "#1 String", "text_b_column": "#2 String", "label_column": "Quality"}
PAIRS = [("The cat sat on the mat.", "A cat was sitting on the mat."),
         ("He left early, as he always does on Fridays.", "She stayed late."),
         ("Shares rose 5 percent.", "Shares rose 5 percent on Monday after the report.")]


# -- reading ---------------------------------------------------------------------------------------

def test_mrpc_reads_as_shipped(shared_data):
    mrpc = shared_data / "mrpc"
    assert (mrpc / "train.tsv").read_bytes()[:3] == b"\xef\xbb\xbf"  # the BOM is really there
    train = read_split(str(mrpc / "train.tsv"), "#1 String", "Quality", text_b_column="#2 String")
    assert len(train) == 3668 and train.lines[0] == 2
    assert train.texts[0] == ('Amrozi accused his brother, whom he called "the witness", of deliberately distorting '
                              'his evidence.', 'Referring to him as only "the witness", Amrozi accused his brother '
                              'of deliberately distorting his evidence.')  # quotes kept: TSV without quoting
    assert train.labels[:3] == ["1", "0", "1"]
    test = read_split(str(mrpc / "msr_paraphrase_test.txt"), "#1 String", "Quality", text_b_column="#2 String")
    assert len(test) == 1725 and test.texts[0][0].startswith("PCCW's chief operating officer")
    assert len(read_split(str(mrpc / "dev.tsv"), "#1 String", "Quality", text_b_column="#2 String")) == 408


def test_wrete_reads_as_shipped(shared_data):
    wrete = shared_data / "indonlu" / "wrete_entailment-ui"
    train = read_split(str(wrete / "train_preprocess.csv"), "sent_A", "label", text_b_column="sent_B")
    assert len(train) == 300 and set(train.labels) == {"Entail_or_Paraphrase", "NotEntail"}
    assert train.texts[0][1].startswith("Pada awalnya bangsa Yahudi")
    # a quoted first field holding commas
    assert train.texts[1][0].startswith("Salah satu tekniknya adalah periplus , deskripsi pada pelabuhan")
    assert train.texts[1][1] == ("Bangsa Romawi memberi sumbangan pada pemetaan karena mereka banyak menjelajahi "
                                 "negeri dan menambahkan teknik baru .")
    valid = read_split(str(wrete / "valid_preprocess.csv"), "sent_A", "label", text_b_column="sent_B")
    assert len(valid) == 50 and valid.labels[0] == "NotEntail"


def test_pair_rows_errors_name_file_line_and_key(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("a\tb\tlabel\none\ttwo\t1\nthree\t \t0\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"{path}, line 3: empty second text"):
        read_split(str(path), "a", "label", text_b_column="b")
    with pytest.raises(DataError, match=rf"{path}, line 1: no column 'B' for data.text_b_column"):
        read_split(str(path), "a", "label", text_b_column="B")
    no_header = tmp_path / "pairs.csv"
    no_header.write_text('one,"two, with a comma",1\n', encoding="utf-8")
    split = read_split(str(no_header), 0, 2, header=False, text_b_column=1)
    assert split.texts == [("one", "two, with a comma")]
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text(json.dumps({"p": "x", "h": "y", "label": "yes"}) + "\n" + json.dumps({"p": "x", "label": 1}))
    with pytest.raises(DataError, match=rf"{jsonl}, line 2: no key 'h' for data.text_b_column"):
        read_split(str(jsonl), "p", "label", text_b_column="h")


# -- configuration ---------------------------------------------------------------------------------

def _pair_config(tmp_path, **data) -> dict:
    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}.tsv").write_text("a\tb\tlabel\nx\ty\t1\nz\tw\t0\n", encoding="utf-8")
    return {"name": "p", "data": {"dir": str(tmp_path), "task": "sentence_pair", "train": "train.tsv",
                                  "dev": "dev.tsv", "test": "test.tsv", "text_column": "a", **data}}


def _config_error(tmp_path, tree) -> str:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_pair_config_errors_name_the_key(tmp_path):
    message = _config_error(tmp_path, _pair_config(tmp_path))
    assert "data.text_b_column" in message and "sentence_pair" in message
    tree = _pair_config(tmp_path, text_b_column="b")
    tree["transfer"] = {"unlabeled": [{"path": "train.tsv", "column": "a"}]}
    message = _config_error(tmp_path, tree)
    assert "transfer:" in message and "unlabeled text for sentence pairs is not supported" in message
    tree = _pair_config(tmp_path, text_b_column="b")
    tree["data"]["task"] = "single_sentence"
    assert "data.text_b_column" in _config_error(tmp_path, tree)


# -- teacher encoding ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hf_teacher(tiny_teacher):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_teacher, num_labels=2).eval()
    return model, AutoTokenizer.from_pretrained(tiny_teacher)


def test_teacher_encodes_pairs_with_token_types(hf_teacher):
    model, tok = hf_teacher
    ids = encode_texts(tok, PAIRS, 64)
    reference = tok([a for a, _ in PAIRS], [b for _, b in PAIRS])
    assert ids == reference["input_ids"]
    assert ids[0][0] == tok.cls_token_id and ids[0].count(tok.sep_token_id) == 2
    padded, mask = pad_ids(ids, tok.pad_token_id)
    types = pad_ids(reference["token_type_ids"], 0)[0]
    with torch.no_grad():
        derived = WithSegments(model, tok.sep_token_id)(input_ids=padded, attention_mask=mask).logits
        expected = model(input_ids=padded, attention_mask=mask, token_type_ids=types).logits
        without = model(input_ids=padded, attention_mask=mask).logits
    torch.testing.assert_close(derived, expected, rtol=0, atol=1e-6)
    assert not torch.allclose(without, expected, atol=1e-4)  # the token types matter


def test_pair_truncation_takes_the_longer_text_first(hf_teacher):
    _, tok = hf_teacher
    long_a = (" ".join(["word"] * 30), "short one")
    cut = encode_texts(tok, [long_a], 16, "truncate")[0]
    assert cut == tok(*long_a, truncation="longest_first", max_length=16)["input_ids"]
    assert len(cut) == 16 and tok.decode(cut[-4:]) == "[SEP] short one [SEP]"  # the second text kept whole
    student = WordPieceTokenizer.from_teacher(tok, 16)
    student.pairs = "joint"  # a transformer student (and the teacher's ONNX runtime) encode the same
    assert student.encode([long_a, PAIRS[0]], "truncate") == encode_texts(tok, [long_a, PAIRS[0]], 16, "truncate")
    with pytest.raises(DataError, match="dev.tsv, line 2: pair has 35 tokens, more than max_length 16"):
        encode_texts(tok, [long_a], 16, "error", where=lambda i: f"dev.tsv, line {i + 2}")
    with pytest.raises(DataError, match="line 2: a text of the pair holds the separator token '\\[SEP\\]'"):
        encode_texts(tok, [("a [SEP] b", "c")], 16, where=lambda i: f"line {i + 2}")


# -- siamese students ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["bilstm", "cnn"])
def test_siamese_features_are_h1_h2_product_difference(kind):
    torch.manual_seed(0)
    if kind == "bilstm":
        model = BiLSTMStudent(BiLSTMConfig(vocab_size=40, num_labels=2, embedding_dim=8, hidden_size=3, fc_dim=4,
                                           pair=True))
        dim, head = 6, model.fc
    else:
        model = CNNStudent(CNNConfig(vocab_size=40, num_labels=2, embedding_dim=8, filter_widths=(2, 3),
                                     num_filters=3, pair=True))
        dim, head = 6, model.classifier
    model.eval()
    assert head.in_features == 4 * dim
    a, b, c = [2, 3, 4, 5, 6], [7, 8], [9, 10, 11]
    with torch.no_grad():
        h_a, h_b = (model._encode(*pad_ids([s])) for s in (a, b))
        batch = model(*pad_ids([(a, b), (c, a)]))  # two pairs, every side padded to the widest text
        ab, ba = batch.pooled[:1], model(*pad_ids([(b, a)])).pooled
    assert ab.shape == (1, 4 * dim)
    torch.testing.assert_close(ab, torch.cat([h_a, h_b, h_a * h_b, (h_a - h_b).abs()], dim=-1), rtol=0, atol=1e-6)
    assert not torch.allclose(h_a, h_b, atol=1e-3)
    # swapping the sentences swaps h1 and h2 and keeps h1 * h2 and |h1 - h2|
    torch.testing.assert_close(ba[:, :dim], ab[:, dim:2 * dim], rtol=0, atol=1e-6)
    torch.testing.assert_close(ba[:, dim:2 * dim], ab[:, :dim], rtol=0, atol=1e-6)
    torch.testing.assert_close(ba[:, 2 * dim:], ab[:, 2 * dim:], rtol=0, atol=1e-6)
    with torch.no_grad():  # the second pair of the batch is read as (c, a), padding changing nothing
        alone = model(*pad_ids([(c, a)]))
        torch.testing.assert_close(batch.logits[1:], alone.logits, rtol=0, atol=1e-6)
        if kind == "bilstm":  # the ONNX path (no packing) reads the stacked layout alike
            torch.testing.assert_close(model.export_forward(*pad_ids([(a, b), (c, a)])), batch.logits,
                                       rtol=0, atol=1e-6)


def test_transformer_and_hf_students_read_pairs_as_the_teacher(hf_teacher, tiny_teacher):
    from taskdistil.students.hf_encoder import HFEncoderStudent, checkpoint_tokenizer
    from taskdistil.students.transformer import TransformerStudent

    model, tok = hf_teacher
    inputs = pad_ids(encode_texts(tok, PAIRS, 64), tok.pad_token_id)
    copy = TransformerStudent.from_teacher(model, [1, 2], sep_id=tok.sep_token_id).eval()
    hf_tok = checkpoint_tokenizer(str(tiny_teacher), 64)
    hf_tok.pairs = "joint"
    assert hf_tok.pair_separator() == tok.sep_token_id
    hf = HFEncoderStudent.from_checkpoint(str(tiny_teacher), 2, tok.pad_token_id,
                                          sep_id=hf_tok.pair_separator()).eval()
    with torch.no_grad():
        expected = WithSegments(model, tok.sep_token_id).eval()(*inputs)
        torch.testing.assert_close(copy(*inputs).logits, expected.logits, rtol=0, atol=1e-5)
        types = pad_ids(tok([a for a, _ in PAIRS], [b for _, b in PAIRS])["token_type_ids"], 0)[0]
        encoder = hf.encoder(input_ids=inputs[0], attention_mask=inputs[1], token_type_ids=types).last_hidden_state
        torch.testing.assert_close(hf(*inputs).layer_cls[:, -1], encoder[:, 0], rtol=0, atol=1e-6)
    assert hf_tok.encode(PAIRS) == encode_texts(tok, PAIRS, 64)


# -- end to end ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mrpc_small(tmp_path_factory, shared_data):
    """120 train / 40 dev / 40 test pairs of real MRPC, BOM and header as shipped."""
    root = tmp_path_factory.mktemp("mrpc_data")
    for name, rows in (("train.tsv", 120), ("dev.tsv", 40), ("msr_paraphrase_test.txt", 40)):
        _slice_tsv(shared_data / "mrpc" / name, root / "mrpc" / name, rows)
    return root


def test_pair_task_end_to_end(tmp_path, mrpc_small, tiny_teacher, capsys, monkeypatch):
    small = {"embedding_dim": 16, "train": {"epochs": 1, "batch_size": 32}}
    tree = {
        "name": "pairs", "run_dir": str(tmp_path / "run"), "seed": 1,
        "data": {"dir": str(mrpc_small), "task": "sentence_pair", "train": "mrpc/train.tsv", "dev": "mrpc/dev.tsv",
                 "test": "mrpc/msr_paraphrase_test.txt", "too_long": "truncate", **MRPC},
        "teacher": {"model": str(tiny_teacher), "max_length": 64,
                    "train": {"epochs": 1, "batch_size": 16, "learning_rate": 1e-3}},
        "transfer": {"augment": {"n_iter": 2, "pos": "none"}},
        "annotate": {"batch_size": 64, "shard_size": 128},
        "students": [{"name": "bilstm", "hidden_size": 8, "fc_dim": 8, **small},
                     {"name": "cnn", "kind": "cnn", "num_filters": 4, **small}],
        "exam": {"warmup": 1, "max_batches": 3, "max_seconds": 0.2, "threads": [1], "batch_sizes": [1, 32],
                 "reference": "none", "memory": False},
    }
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(tree), encoding="utf-8")
    assert main(["run", str(config)]) == 0
    run = tmp_path / "run"

    summary = read_json(run / "transfer" / "summary.json")
    assert summary["by_origin"]["labeled"] == 120 and summary["by_origin"]["augmented"] > 100
    rows = [json.loads(line) for line in (run / "transfer" / "examples.jsonl").read_text().splitlines()]
    assert all(isinstance(row["text"], list) and len(row["text"]) == 2 for row in rows)
    assert read_json(run / "teacher" / "model" / "taskdistil.json")["task"] == "sentence_pair"

    report = read_json(run / "report.json")
    assert report["task"] == "sentence_pair" and report["test"]["examples"] == 40
    models = {m["label"]: m for m in report["models"]}
    for name in ("teacher", "bilstm", "cnn"):
        assert models[f"{name} (onnx)"]["parity_max_abs_diff"] <= 1e-4
        assert models[f"{name} (onnx)"]["metrics"] == models[f"{name} (torch)"]["metrics"]
        assert models[f"{name} (torch)"]["latency"]["1"]["1"]["p50_ms"] > 0
    for name in ("bilstm", "cnn"):
        meta = read_json(run / "students" / name / "model" / "config.json")
        assert meta["model"]["pair"] is True and meta["tokenizer"]["pairs"] == "separate"

    pairs = PAIRS + [["a list from JSON", "is a pair too"]]
    for name in ("teacher", "bilstm", "cnn"):
        model_dir = run / "export" / name / "model"
        eager, onnx = taskdistil.load(model_dir), taskdistil.load(model_dir, runtime="onnx", threads=1)
        assert onnx.logits(pairs) == pytest.approx(eager.logits(pairs), abs=1e-4)
        assert eager.predict(pairs) == onnx.predict(pairs) and len(eager.predict(pairs)) == 4
        with pytest.raises(DataError, match="example 0: a sentence-pair model takes pairs"):
            eager.predict(["a single text"])
    assert "the first sentence" in (run / "export" / "bilstm" / "model" / "README.md").read_text()

    capsys.readouterr()
    model_dir = run / "export" / "bilstm" / "model"
    assert main(["predict", str(model_dir), "--runtime", "onnx", "\t".join(PAIRS[0]), "\t".join(PAIRS[1])]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["text"] for p in printed] == [list(PAIRS[0]), list(PAIRS[1])]
    assert [p["label"] for p in printed] == taskdistil.load(model_dir).predict(PAIRS[:2])
    assert main(["predict", str(model_dir), "no tab in this line"]) == 2
    assert "input 1: a sentence-pair model reads text_a<TAB>text_b" in capsys.readouterr().err
