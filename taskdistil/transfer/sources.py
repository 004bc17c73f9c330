"""Unlabeled text sources, streamed: .txt (one example per line), .jsonl/.csv/.tsv columns, CoNLL files (tags
ignored, ``taskdistil.data.conll_words``; a sentence's words joined by spaces), ``hf:`` datasets. Word-level tasks
read them as word lists through ``taskdistil.transfer.word_sources``.

Each example comes with where it was read (file and line, or dataset row), so an error or a transfer-set
row can always be traced back. Optional cleaning (HTML breaks/tags), sentence splitting and word-count
filters apply on the fly; nothing is held whole in memory.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from taskdistil.config import UnlabeledSource
from taskdistil.data.conll_words import conll_sentences
from taskdistil.data.readers import jsonl_objects, load_hf_dataset
from taskdistil.errors import DataError

_HTML = re.compile(r"<br\s*/?>|</?[A-Za-z][^<>]{0,200}>")
_SPACES = re.compile(r"\s+")
# A sentence ends at . ! ? (optionally closed by quotes/brackets) before whitespace and an upper-case
# letter, digit or opening quote; common abbreviations do not end one.
_BOUNDARY = re.compile(r"(?<=[.!?])[\"'\)\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREVIATIONS = {"mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "jr.", "sr.", "vs.", "etc.", "e.g.", "i.e.",
                  "no.", "vol.", "mt.", "ft.", "u.s.", "u.k.", "inc.", "ltd.", "co."}


@dataclass
class SourceCounts:
    """What happened to a source's examples while reading it."""

    documents: int = 0
    examples: int = 0  # after splitting and filtering
    too_short: int = 0
    too_long: int = 0
    empty: int = 0
    extra: dict = field(default_factory=dict)


def clean_html(text: str) -> str:
    return _SPACES.sub(" ", _HTML.sub(" ", text)).strip()


def split_sentences(text: str) -> list[str]:
    """Rule-based sentence split (language-agnostic punctuation rules, English abbreviations kept whole)."""
    pieces, start = [], 0
    for match in _BOUNDARY.finditer(text):
        candidate = text[start:match.start() + len(match.group(0).rstrip())].strip()
        last_word = candidate.rsplit(" ", 1)[-1].lower()
        if last_word in _ABBREVIATIONS or re.fullmatch(r"[a-z]\.", last_word):
            continue  # "Mr. Smith", "J. Doe": not a boundary
        pieces.append(candidate)
        start = match.end()
    tail = text[start:].strip()
    if tail:
        pieces.append(tail)
    return [p for p in pieces if p]


def read_unlabeled(source: UnlabeledSource, resolved: str, counts: SourceCounts | None = None
                   ) -> Iterator[tuple[str, str]]:
    """(text, where) of every example of ``source`` (``resolved``: its path against the data directory)."""
    counts = counts if counts is not None else SourceCounts()
    for document, where in _documents(source, resolved):
        counts.documents += 1
        text = clean_html(document) if source.clean_html else _SPACES.sub(" ", document).strip()
        pieces = split_sentences(text) if source.split_sentences else [text]
        for number, piece in enumerate(pieces, 1):
            words = len(piece.split())
            if words == 0:
                counts.empty += 1
                continue
            if words < source.min_words:
                counts.too_short += 1
                continue
            if source.max_words is not None and words > source.max_words:
                counts.too_long += 1
                continue
            counts.examples += 1
            yield piece, (f"{where}, sentence {number}" if source.split_sentences else where)


def _documents(source: UnlabeledSource, resolved: str) -> Iterator[tuple[str, str]]:
    if resolved.startswith("hf:"):
        yield from _hf_documents(resolved, source.column)
        return
    path = Path(resolved)
    if not path.is_file():
        raise DataError(f"{resolved}: unlabeled source not found (transfer.unlabeled path {source.path!r})")
    kind = source.format if source.format != "auto" else _format_of(path)
    try:
        if kind == "txt":
            yield from _txt_documents(path)
        elif kind == "conll":  # a sentence-level task reads a CoNLL sentence as its words joined by spaces
            for words, where in conll_sentences(path, conll_column(source), source.lang_prefix):
                yield " ".join(words), where
        elif kind == "jsonl":
            yield from _jsonl_documents(path, source.column)
        else:
            yield from _delimited_documents(path, "\t" if kind == "tsv" else ",", source.column, source.header)
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except csv.Error as err:
        raise DataError(f"{path}: {err}") from None


def conll_column(source: UnlabeledSource) -> int:
    """The token column of a CoNLL source: ``column`` if an index, else 0."""
    column = source.column
    if isinstance(column, int):
        return column
    return int(column) if column.lstrip("-").isdigit() else 0


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    kinds = {".txt": "txt", ".text": "txt", ".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "tsv",
             ".conll": "conll", ".conllu": "conll", ".iob": "conll", ".bio": "conll"}
    if suffix not in kinds:
        raise DataError(f"{path}: cannot tell the format from the extension {suffix!r}; set the source's format "
                        "(txt, jsonl, csv, tsv, conll)")
    return kinds[suffix]


def _txt_documents(path: Path) -> Iterator[tuple[str, str]]:
    with path.open(encoding="utf-8-sig") as fh:
        for line_no, line in enumerate(fh, 1):
            if line.strip():
                yield line, f"{path}, line {line_no}"


def _jsonl_documents(path: Path, column: str | int) -> Iterator[tuple[str, str]]:
    for line_no, row in jsonl_objects(path):
        where = f"{path}, line {line_no}"
        yield _column_text(row, column, where, "key"), where


def _delimited_documents(path: Path, delimiter: str, column: str | int, header: bool
                         ) -> Iterator[tuple[str, str]]:
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter, quoting=quoting)
        index = column if isinstance(column, int) else None
        if header:
            names = [h.strip() for h in next(reader, [])]
            if not names:
                raise DataError(f"{path}: empty file")
            if index is None:
                if column not in names:
                    raise DataError(f"{path}, line 1: no column {column!r} (the source's column); columns: {names}")
                index = names.index(column)
        elif index is None:
            if not str(column).isdigit():
                raise DataError(f"{path}: header is false, so the source's column must be a 0-based index, "
                                f"got {column!r}")
            index = int(column)
        for row in reader:
            if not row or all(not c.strip() for c in row):
                continue
            if index >= len(row):
                raise DataError(f"{path}, line {reader.line_num}: expected at least {index + 1} columns, "
                                f"found {len(row)}")
            yield row[index], f"{path}, line {reader.line_num}"


def _hf_documents(source: str, column: str | int) -> Iterator[tuple[str, str]]:
    for i, row in enumerate(load_hf_dataset(source, "train", streaming=True)):
        where = f"{source}, example {i}"
        yield _column_text(row, column, where, "column"), where


def _column_text(row: dict, column: str | int, where: str, noun: str) -> str:
    """The text in ``column`` of a JSON object (``noun`` "key") or dataset row ("column"); DataError naming
    ``where`` otherwise."""
    if str(column) not in row:
        raise DataError(f"{where}: no {noun} {column!r} (the source's column); found {sorted(row)}")
    text = row[str(column)]
    if not isinstance(text, str):
        raise DataError(f"{where}: {column!r} is not a string")
    return text
