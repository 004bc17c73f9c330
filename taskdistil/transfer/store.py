"""The transfer set on disk: ``examples.jsonl`` (one example per line) plus index arrays, read lazily.

A row is ``{"text": ..., "origin": "labeled"|"unlabeled"|"augmented", "where": ...}``, ``text`` a string or, for
a sentence pair, the list ``[a, b]`` (read back as the tuple ``(a, b)``); a sentence of a word-level task
(token tagging) is ``{"words": [...], ...}`` instead (read back as the list); an augmented row also has ``"parent"``
(the transfer-set index of the example it was made from). ``offsets.npy`` holds each
row's byte offset, so any slice is read from disk without loading the set; ``origins.npy`` (uint8) and
``labeled_rows.npy`` (int64: the training-split row of a labeled example, -1 otherwise) are small and
memory-mapped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from taskdistil.data.pairs import Example
from taskdistil.errors import ArtifactError

EXAMPLES = "examples.jsonl"
OFFSETS = "offsets.npy"
ORIGINS = "origins.npy"
LABELED_ROWS = "labeled_rows.npy"
SUMMARY = "summary.json"
HELDOUT = "heldout.jsonl"  # unlabeled texts set aside for the exam's fidelity (``{"text"|"words", "where"}`` rows)
ORIGIN_NAMES = ("labeled", "unlabeled", "augmented")


class TransferSet:
    """Read access to a built transfer set: ``len``, ``ts[i]`` (text or pair), ``ts[a:b]`` (list of them)."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        for name in (EXAMPLES, OFFSETS, ORIGINS, LABELED_ROWS):
            if not (self.dir / name).is_file():
                raise ArtifactError(f"{self.dir / name}: transfer set file missing; run `taskdistil transfer`")
        self.offsets = np.load(self.dir / OFFSETS, mmap_mode="r", allow_pickle=False)  # (N + 1,) int64
        self.origins = np.load(self.dir / ORIGINS, mmap_mode="r", allow_pickle=False)  # (N,) uint8
        self.labeled_rows = np.load(self.dir / LABELED_ROWS, mmap_mode="r", allow_pickle=False)  # (N,) int64
        if not len(self.offsets) - 1 == len(self.origins) == len(self.labeled_rows):
            raise ArtifactError(f"{self.dir}: index arrays disagree on the number of examples; rebuild it")

    def __len__(self) -> int:
        return len(self.origins)

    def rows(self, start: int, stop: int) -> list[dict]:
        """The JSON rows ``start:stop``, read from disk."""
        start, stop = max(0, start), min(len(self), stop)
        if start >= stop:
            return []
        with (self.dir / EXAMPLES).open("rb") as fh:
            fh.seek(int(self.offsets[start]))
            blob = fh.read(int(self.offsets[stop] - self.offsets[start]))
        return [json.loads(line) for line in blob.splitlines()]

    def __getitem__(self, item):
        if isinstance(item, slice):
            start, stop, step = item.indices(len(self))
            texts = [_example(row) for row in self.rows(start, stop)]
            return texts if step == 1 else texts[::step]
        index = range(len(self))[item]
        return _example(self.rows(index, index + 1)[0])

    def texts(self) -> list[Example]:
        """Every text, in order (loaded whole: for a student's tokenization)."""
        return self[:]

    def where(self, i: int) -> str:
        """Where example ``i`` came from (file and line), for error messages."""
        row = self.rows(i, i + 1)[0]
        origin = row["origin"]
        if origin == "augmented":
            return f"transfer example {i} (augmented from example {row['parent']}: {self.where(row['parent'])})"
        return row["where"]

    def too_long(self, labeled: str):
        """The over-length policy per example: ``labeled`` (``data.too_long``) for labeled rows; unlabeled and
        augmented rows are truncated (web text holds the odd over-long sentence, and it carries no label that
        truncation could falsify)."""
        if labeled == "truncate":
            return "truncate"
        origins = self.origins
        return lambda i: labeled if origins[i] == 0 else "truncate"

    def counts(self) -> dict[str, int]:
        values = np.bincount(np.asarray(self.origins), minlength=len(ORIGIN_NAMES))
        return {name: int(values[code]) for code, name in enumerate(ORIGIN_NAMES)}


def _example(row: dict) -> Example | list[str]:
    if "words" in row:
        return row["words"]
    text = row["text"]
    return text if isinstance(text, str) else (text[0], text[1])
