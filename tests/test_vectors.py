"""Pretrained word vectors: text (with and without header, gzip) and word2vec binary files,
streamed into the student's vocabulary; clear errors; a student initialised from them."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from taskdistil.errors import DataError
from taskdistil.students.vectors import read_vectors

VOCAB = ["[PAD]", "[UNK]", "movie", "Great", "dull", "zzz"]
VECTORS = {"movie": [1.0, 2.0, 3.0], "great": [0.5, -0.5, 0.0], "dull": [-1.0, 0.0, 1.0], "other": [9.0, 9.0, 9.0]}


def _text(path, header: bool):
    lines = ([f"{len(VECTORS)} 3"] if header else []) + [f"{w} {' '.join(map(str, v))}" for w, v in VECTORS.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _binary(path):
    with path.open("wb") as fh:
        fh.write(f"{len(VECTORS)} 3\n".encode())
        for word, vector in VECTORS.items():
            fh.write(word.encode() + b" " + struct.pack("<3f", *vector) + b"\n")
    return path


@pytest.mark.parametrize("fmt", ["glove", "word2vec-text", "gzip", "binary"])
def test_formats_fill_the_vocabulary(tmp_path, fmt):
    if fmt == "glove":
        path = _text(tmp_path / "v.txt", header=False)
    elif fmt == "word2vec-text":
        path = _text(tmp_path / "v.vec", header=True)
    elif fmt == "gzip":
        plain = _text(tmp_path / "v.txt", header=True).read_bytes()
        path = tmp_path / "v.txt.gz"
        path.write_bytes(gzip.compress(plain))
    else:
        path = _binary(tmp_path / "v.bin")
    table = read_vectors(path, VOCAB, dim=3, pad_id=0, seed=1)
    m = table.matrix
    assert m.shape == (6, 3) and m.dtype == np.float32
    np.testing.assert_allclose(m[2], VECTORS["movie"])
    np.testing.assert_allclose(m[3], VECTORS["great"])  # "Great" found by its lowercased form
    np.testing.assert_allclose(m[4], VECTORS["dull"])
    assert (m[0] == 0).all()  # pad row
    assert table.found == 3 and table.lowercase_matches == 1
    assert np.abs(m[5]).sum() > 0 and not np.allclose(m[5], m[1])  # random init for missing words
    again = read_vectors(path, VOCAB, dim=3, pad_id=0, seed=1).matrix
    np.testing.assert_array_equal(m, again)  # deterministic under the seed


def test_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_vectors(tmp_path / "missing.txt", VOCAB, 3, 0)
    bad = tmp_path / "bad.txt"
    bad.write_text("movie 1 2 3\ndull 1 2\n")
    with pytest.raises(DataError, match=r"bad.txt: line 2: 2 numbers, earlier lines have 3"):
        read_vectors(bad, VOCAB, 3, 0)
    nan = tmp_path / "nan.txt"
    nan.write_text("movie 1 2 x\n")
    with pytest.raises(DataError, match="line 1: not a word followed by numbers"):
        read_vectors(nan, VOCAB, 3, 0)
    with pytest.raises(DataError, match="embedding_dim is 4"):
        read_vectors(_text(tmp_path / "v.txt", header=False), VOCAB, 4, 0)
    with pytest.raises(DataError, match="none of the 2 vocabulary words"):
        read_vectors(_text(tmp_path / "v.txt", header=False), ["[PAD]", "qqq"], 3, 0)
    cut = _binary(tmp_path / "cut.bin")
    cut.write_bytes(cut.read_bytes()[:-8])
    with pytest.raises(DataError, match="cut short"):
        read_vectors(cut, VOCAB, 3, 0)


def test_config_requires_a_file_for_vectors(tmp_path, sst2_small, tiny_teacher):
    from taskdistil.config import load_config
    from taskdistil.errors import ConfigError

    from conftest import tiny_config

    path = tiny_config(tmp_path, sst2_small, tiny_teacher,
                       students=[{"name": "s", "tokenizer": "word", "embeddings": "vectors"}])
    with pytest.raises(ConfigError, match="needs the key 'vectors'"):
        load_config(path)


def test_word_student_trains_from_vector_file(tmp_path, sst2_small, tiny_teacher):
    """End to end: a word-vocabulary BiLSTM whose table starts from a GloVe-style file."""
    import taskdistil
    from taskdistil.cli import main
    from taskdistil.io import load_tensors, read_json
    from taskdistil.students.tokenizer import load_student_tokenizer

    from conftest import tiny_config

    words = {}
    for line in (sst2_small / "sst2" / "train.tsv").read_text().splitlines()[1:]:
        for w in line.split("\t")[0].split():
            words.setdefault(w.lower(), len(words))
    rng = np.random.default_rng(0)
    vectors = sst2_small / "vectors.txt"  # relative paths resolve against the data directory
    vectors.write_text("".join(f"{w} {' '.join(f'{x:.4f}' for x in rng.normal(size=16))}\n" for w in words))
    student = {"name": "glove", "tokenizer": "word", "embeddings": "vectors", "vectors": "vectors.txt",
               "embedding_dim": 16, "embedding_mode": "frozen", "hidden_size": 8, "fc_dim": 8,
               "train": {"epochs": 1, "batch_size": 32}}
    config = tiny_config(tmp_path, sst2_small, tiny_teacher, students=[student])
    assert main(["run", str(config)]) == 0
    model_dir = tmp_path / "run" / "students" / "glove" / "model"
    meta = read_json(model_dir / "config.json")
    table = load_tensors(model_dir / "model.safetensors")["embedding.weight"].numpy()
    assert taskdistil.load(model_dir).predict(["a fine movie"])[0] in {"0", "1"}
    lines = {ln.split(" ")[0]: np.array(ln.split(" ")[1:], dtype=np.float32)
             for ln in vectors.read_text().splitlines()}
    tok = load_student_tokenizer(model_dir, meta["tokenizer"])
    movie = tok.vocabulary().index("movie")
    np.testing.assert_allclose(table[movie], lines["movie"], atol=1e-4)  # frozen: still the file's vector
