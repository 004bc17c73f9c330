"""Readers for token-tagged splits (NER, POS, term extraction): one sentence = a list of words and one tag per word.

Formats
- ``conll``: one token per line, columns separated by tabs (when the line holds a tab; a token may then contain
  spaces, as IndoNLU POSP's multi-word tokens do) or else by runs of whitespace; ``token_column`` and
  ``tag_column`` are 0-based column indices (negative counts from the end). A blank line (or a run of them; a line
  of only whitespace counts as blank) ends a sentence, so runs of blank lines make no empty sentence; ``-DOCSTART-``
  lines are document separators and are skipped.
- ``csv`` / ``jsonl``: one sentence per row; the token and tag columns (names, or 0-based indices: for JSON lines
  the index of the key in the object) hold lists, as JSON arrays or Python-literal lists (parsed with ``json`` or
  ``ast.literal_eval``, never ``eval``). Numbers in a list are read as their text.
- ``hf:NAME[:CONFIG][@SPLIT]``: a ``datasets`` split with list columns (``tokens`` / ``ner_tags`` style); class-id
  tags are mapped to their names.

WikiANN writes every token as ``lang:token``; ``lang_prefix="auto"`` strips the prefix when every token of the file
carries the same ``xx:`` (2-3 lower-case letters) prefix, ``"strip"`` strips it wherever present, ``"keep"`` never.

Bad input raises ``DataError`` naming the file and line: a token line with no tag, an empty tag, an empty file,
token and tag lists of different lengths, an unparsable list. An empty sentence (a row whose lists are both ``[]``)
holds no word to tag or predict: it is skipped and counted in ``TaggedSplit.empty_skipped`` (callers log it).
"""

from __future__ import annotations

import ast
import csv
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from taskdistil.data.readers import jsonl_objects, load_hf_dataset
from taskdistil.errors import DataError

csv.field_size_limit(1 << 30)

DOCSTART = "-DOCSTART-"
_LANG_PREFIX = re.compile(r"^([a-z]{2,3}):(?=.)", re.DOTALL)
Format = Literal["auto", "conll", "csv", "jsonl"]
LangPrefix = Literal["auto", "strip", "keep"]


@dataclass(frozen=True)
class TaggedSplit:
    """Words and tags of each sentence of one split; ``lines[i]`` is the 1-based line (row) where sentence i starts
    (empty for ``hf:`` sources). Tags are kept as written in the file."""

    source: str
    tokens: list[list[str]]
    tags: list[list[str]]
    lines: list[int]
    empty_skipped: int = 0
    line_per_word: bool = False  # CoNLL: word j of sentence i is on line lines[i] + j

    def where(self, i: int, word: int | None = None) -> str:
        """Location of sentence i (or of its word ``word``, 0-based) for error messages: ``"path, line N"``
        (``"path, line N, word K"`` in a row of lists; ``"source, example i"`` without lines)."""
        if word is not None and self.line_per_word:
            return f"{self.source}, line {self.lines[i] + word}"
        at = f"{self.source}, line {self.lines[i]}" if self.lines else f"{self.source}, example {i}"
        return at if word is None else f"{at}, word {word + 1}"

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def num_tokens(self) -> int:
        return sum(len(t) for t in self.tokens)


def read_tagged(path: str, *, format: Format = "auto", token_column: int | str = 0, tag_column: int | str = -1,
                header: bool = True, lang_prefix: LangPrefix = "auto") -> TaggedSplit:
    """Read one tagged split (see the module docstring for formats and errors)."""
    if lang_prefix not in ("auto", "strip", "keep"):
        raise DataError(f"{path}: lang_prefix must be auto, strip or keep, got {lang_prefix!r}")
    if path.startswith("hf:"):
        split = _read_hf(path, token_column, tag_column)
    else:
        file = Path(path)
        if not file.is_file():
            raise DataError(f"{path}: file not found")
        kind = tagged_format_of(file) if format == "auto" else format
        try:
            if kind == "conll":
                split = _read_conll(file, _index(token_column, file, "token"), _index(tag_column, file, "tag"))
            elif kind == "csv":
                split = _read_csv(file, token_column, tag_column, header)
            elif kind == "jsonl":
                split = _read_jsonl(file, token_column, tag_column)
            else:
                raise DataError(f"{path}: unknown tagged format {kind!r}; use conll, csv or jsonl")
        except UnicodeDecodeError as err:
            raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    if not split.tokens:
        raise DataError(f"{path}: no sentences (empty file or split)")
    return _strip_lang(split, lang_prefix)


def tagged_format_of(path: Path) -> str:
    """``csv`` for .csv, ``jsonl`` for .jsonl/.json, else ``conll`` (.txt, .conll, .tsv, no extension, ...)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    return "conll"


def _index(column: int | str, path: Path, role: str) -> int:
    if isinstance(column, int):
        return column
    try:
        return int(column)
    except ValueError:
        raise DataError(f"{path}: CoNLL columns have no names, so data.{role}_column must be a 0-based index, "
                        f"got {column!r}") from None


def _read_conll(path: Path, token_col: int, tag_col: int) -> TaggedSplit:
    tokens: list[list[str]] = []
    tags: list[list[str]] = []
    lines: list[int] = []
    words: list[str] = []
    labels: list[str] = []
    start = 0
    with path.open(encoding="utf-8-sig") as fh:
        for line_no, raw in enumerate(fh, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.split(None, 1)[0] == DOCSTART:
                if words:
                    tokens.append(words)
                    tags.append(labels)
                    lines.append(start)
                    words, labels = [], []
                continue
            cells = line.split("\t") if "\t" in line else line.split()
            try:
                token, tag = cells[token_col].strip(), cells[tag_col].strip()
            except IndexError:
                token, tag = "", ""
            if len(cells) < 2 or (token_col % len(cells)) == (tag_col % len(cells)) or not tag:
                raise DataError(f"{path}, line {line_no}: no tag (expected a token and a tag in columns "
                                f"{token_col} and {tag_col}, separated by a tab or spaces): {line[:80]!r}")
            if not token:
                raise DataError(f"{path}, line {line_no}: empty token in column {token_col}")
            if not words:
                start = line_no
            words.append(token)
            labels.append(tag)
    if words:
        tokens.append(words)
        tags.append(labels)
        lines.append(start)
    return TaggedSplit(str(path), tokens, tags, lines, line_per_word=True)


def parse_list(value: object, where: str, role: str) -> list[str]:
    """A token or tag list from a cell: a list already, or a JSON array / Python-literal list in a string."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text)
        except ValueError:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                raise DataError(f"{where}: the {role} column is not a list (JSON array or Python list): "
                                f"{text[:80]!r}") from None
    if not isinstance(value, (list, tuple)):
        raise DataError(f"{where}: the {role} column is not a list (JSON array or Python list): {str(value)[:80]!r}")
    out = []
    for k, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise DataError(f"{where}: {role} {k} is not a string: {item!r}")
        item = str(item).strip()
        if not item:
            raise DataError(f"{where}: {role} {k} is empty")
        out.append(item)
    return out


class _Rows:
    """Collects list rows into a split, checking lengths and skipping (counting) empty sentences."""

    def __init__(self, source: str):
        self.source = source
        self.tokens: list[list[str]] = []
        self.tags: list[list[str]] = []
        self.lines: list[int] = []
        self.empty = 0

    def add(self, words: object, labels: object, where: str, line: int | None) -> None:
        words, labels = parse_list(words, where, "token"), parse_list(labels, where, "tag")
        if len(words) != len(labels):
            raise DataError(f"{where}: {len(words)} tokens but {len(labels)} tags")
        if not words:
            self.empty += 1
            return
        self.tokens.append(words)
        self.tags.append(labels)
        if line is not None:
            self.lines.append(line)

    def split(self) -> TaggedSplit:
        return TaggedSplit(self.source, self.tokens, self.tags, self.lines, self.empty)


def _column_index(names: list[str] | None, column: int | str, path: Path, role: str) -> int:
    if isinstance(column, int):
        return column
    if names is None:
        if column.lstrip("-").isdigit():
            return int(column)
        raise DataError(f"{path}: data.header is false, so data.{role}_column must be a 0-based index, got {column!r}")
    if column not in names:
        raise DataError(f"{path}, line 1: no column {column!r} for data.{role}_column; columns: {names}")
    return names.index(column)


def _read_csv(path: Path, token_column: int | str, tag_column: int | str, header: bool) -> TaggedSplit:
    rows = _Rows(str(path))
    for cells, where, line in csv_cells(path, ((token_column, "token"), (tag_column, "tag")), header):
        rows.add(*cells, where, line)
    return rows.split()


def csv_cells(path: Path, columns: Sequence[tuple[int | str, str]], header: bool) -> Iterator[tuple[list, str, int]]:
    """(cells of ``columns``, "FILE, line N", N) of each non-blank CSV row; ``columns``: (a header name or 0-based
    index, its role in ``data.ROLE_column``) pairs. A missing column or a short row raises naming file and line."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            names = None
            if header:
                first = next(reader, None)
                if first is None:
                    raise DataError(f"{path}: empty file")
                names = [h.strip() for h in first]
            index = [_column_index(names, column, path, role) for column, role in columns]
            end = reader.line_num
            for row in reader:
                start, end = end + 1, reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                where = f"{path}, line {start}"
                try:
                    cells = [row[i] for i in index]
                except IndexError:
                    raise DataError(f"{where}: expected at least {max(index) + 1} columns, found {len(row)}") \
                        from None
                yield cells, where, start
    except csv.Error as err:
        raise DataError(f"{path}: {err}") from None


def jsonl_cells(path: Path, columns: Sequence[tuple[int | str, str]]) -> Iterator[tuple[list, str, int]]:
    """(values of ``columns``, "FILE, line N", N) of each JSONL object; ``columns`` as for ``csv_cells`` (a key or
    the 0-based position of one)."""
    for line_no, row in jsonl_objects(path):
        where = f"{path}, line {line_no}"
        yield [row[_key(row, column, where, role)] for column, role in columns], where, line_no


def _key(row: dict, column: int | str, where: str, role: str) -> str:
    keys = list(row)
    if isinstance(column, int) or column.lstrip("-").isdigit():
        try:
            return keys[int(column)]
        except IndexError:
            raise DataError(f"{where}: no key at index {column} for data.{role}_column; keys: {keys}") from None
    if column not in row:
        raise DataError(f"{where}: no key {column!r} for data.{role}_column; keys: {keys}")
    return column


def _read_jsonl(path: Path, token_column: int | str, tag_column: int | str) -> TaggedSplit:
    rows = _Rows(str(path))
    for cells, where, line in jsonl_cells(path, ((token_column, "token"), (tag_column, "tag"))):
        rows.add(*cells, where, line)
    return rows.split()


def _read_hf(source: str, token_column: int | str, tag_column: int | str) -> TaggedSplit:
    """A ``datasets`` split whose token/tag columns are sequences; ``ClassLabel`` tag ids become their names."""
    import datasets

    ds = load_hf_dataset(source, "train")
    cols = []
    for column, role in ((token_column, "token"), (tag_column, "tag")):
        name = ds.column_names[int(column)] if isinstance(column, int) or column.lstrip("-").isdigit() else column
        if name not in ds.column_names:
            raise DataError(f"{source}: no column {name!r} for data.{role}_column; columns: {ds.column_names}")
        cols.append(name)
    feature = ds.features[cols[1]]
    inner = getattr(feature, "feature", None)
    names = inner.names if isinstance(inner, datasets.ClassLabel) else None
    rows = _Rows(source)
    for i, (words, labels) in enumerate(zip(ds[cols[0]], ds[cols[1]])):
        if names is not None and labels is not None:
            labels = [names[t] for t in labels]
        rows.add(words, labels, f"{source}, example {i}", None)
    return rows.split()


def _strip_lang(split: TaggedSplit, mode: LangPrefix) -> TaggedSplit:
    if mode == "keep":
        return split
    if mode == "auto" and not _one_prefix(_all(split.tokens)):
        return split
    tokens = [[_LANG_PREFIX.sub("", t, count=1) for t in sentence] for sentence in split.tokens]
    return TaggedSplit(split.source, tokens, split.tags, split.lines, split.empty_skipped, split.line_per_word)


def _one_prefix(tokens: Iterable[str]) -> bool:
    """Whether every token carries the same ``xx:`` language prefix."""
    first = None
    for token in tokens:
        match = _LANG_PREFIX.match(token)
        if match is None or (first is not None and match.group(1) != first):
            return False
        first = match.group(1)
    return first is not None


def _all(sentences: list[list[str]]) -> Iterable[str]:
    for sentence in sentences:
        yield from sentence
