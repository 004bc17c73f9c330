"""Pretrained word vectors (word2vec / GloVe / fastText) for a student's vocabulary.

Formats: text — one ``word v1 ... vD`` per line, with or without a ``COUNT DIM`` first line
(word2vec/fastText ``.vec``, GloVe ``.txt``), plain or ``.gz``; binary — word2vec's ``.bin``
(``COUNT DIM\\n`` then per word: the word, a space, D little-endian float32). The file is
streamed and only the vocabulary's words are kept, so a multi-GB file needs no more memory
than the student's table. Words the file lacks start from N(0, sigma^2), sigma the found
vectors' standard deviation; the pad row is zero.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from taskdistil.errors import DataError


@dataclass
class VectorTable:
    matrix: np.ndarray  # (V, D) float32
    found: int  # vocabulary entries the file covered
    lowercase_matches: int  # ... of which only by their lowercased form


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _binary_rows(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    with _open(path) as fh:
        header = fh.readline().split()
        if len(header) != 2:
            raise DataError(f"{path}: line 1: a word2vec binary file starts with 'COUNT DIM'")
        count, dim = int(header[0]), int(header[1])
        for i in range(count):
            word = bytearray()
            while (ch := fh.read(1)) not in (b" ", b""):
                if ch != b"\n":  # some writers end each vector with a newline
                    word += ch
            data = fh.read(4 * dim)
            if len(data) != 4 * dim:
                raise DataError(f"{path}: vector {i + 1} of {count} is cut short (file truncated?)")
            yield word.decode("utf-8", errors="replace"), np.frombuffer(data, dtype="<f4")


def _text_rows(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    dim = None
    with _open(path) as fh:
        for line_no, raw in enumerate(fh, start=1):
            parts = raw.decode("utf-8", errors="replace").rstrip("\n").rstrip(" ").split(" ")
            if line_no == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec / fastText header: COUNT DIM
            if len(parts) < 2:
                continue
            if dim is None:
                dim = len(parts) - 1
            if len(parts) - 1 != dim:
                raise DataError(f"{path}: line {line_no}: {len(parts) - 1} numbers, earlier lines have {dim}")
            try:
                yield parts[0], np.asarray(parts[1:], dtype=np.float32)
            except ValueError:
                raise DataError(f"{path}: line {line_no}: not a word followed by numbers") from None


def read_vectors(path: str | Path, vocab: Sequence[str], dim: int, pad_id: int, seed: int = 0) -> VectorTable:
    """A (len(vocab), dim) table: the file's vector for each vocabulary word (exact, else lowercased)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: word vectors file not found (student key 'vectors')")
    binary = path.suffix == ".bin" or path.name.endswith(".bin.gz")
    index: dict[str, list[int]] = {}
    for i, word in enumerate(vocab):
        index.setdefault(word, []).append(i)
    lower_index: dict[str, list[int]] = {}
    for i, word in enumerate(vocab):
        lower_index.setdefault(word.lower(), []).append(i)
    matrix = np.zeros((len(vocab), dim), dtype=np.float32)
    exact = np.zeros(len(vocab), dtype=bool)
    by_lower = np.zeros(len(vocab), dtype=bool)
    for word, vector in (_binary_rows(path) if binary else _text_rows(path)):
        if len(vector) != dim:
            raise DataError(f"{path}: vectors have {len(vector)} dimensions, the student's embedding_dim is {dim}")
        for i in index.get(word, ()):
            matrix[i], exact[i] = vector, True
        for i in lower_index.get(word.lower(), ()):
            if not exact[i] and not by_lower[i]:
                matrix[i], by_lower[i] = vector, True
    covered = exact | by_lower
    covered[pad_id] = False
    if not covered.any():
        raise DataError(f"{path}: none of the {len(vocab)} vocabulary words has a vector; wrong file or tokenizer?")
    sigma = float(matrix[covered].std())
    missing = ~covered
    matrix[missing] = np.random.default_rng(seed).normal(0.0, sigma, (int(missing.sum()), dim))
    matrix[pad_id] = 0.0
    return VectorTable(matrix, found=int(covered.sum()), lowercase_matches=int((by_lower & ~exact & covered).sum()))
