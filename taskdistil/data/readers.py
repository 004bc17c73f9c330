"""Readers for labeled classification splits: single sentences, or sentence pairs (``text_b_column``).

Sources: ``.tsv`` / ``.csv`` / ``.jsonl`` files (columns chosen by name, or by 0-based
index for files without a header) and ``hf:NAME[:CONFIG][@SPLIT]`` through the
``datasets`` library. Every malformed row raises ``DataError`` naming file and line.
A pair is read as the tuple ``(text, text_b)``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from taskdistil.data.pairs import Example
from taskdistil.errors import DataError

csv.field_size_limit(1 << 30)


@dataclass
class Split:
    """Texts (or pairs of texts) and raw (string) labels of one split; ``lines[i]`` is where example i was read."""

    source: str
    texts: list[Example]
    labels: list[str]
    lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def where(self, i: int) -> str:
        return f"{self.source}, line {self.lines[i]}" if self.lines else f"{self.source}, example {i}"


def read_split(
    source: str,
    text_column: str | int = "sentence",
    label_column: str | int = "label",
    fmt: str = "auto",
    header: bool = True,
    default_hf_split: str = "train",
    text_b_column: str | int | None = None,
) -> Split:
    """One split; with ``text_b_column`` every example is a pair ``(text, text_b)``."""
    columns = {"text": text_column, "label": label_column}
    if text_b_column is not None:
        columns["text_b"] = text_b_column
    if source.startswith("hf:"):
        split = _read_hf(source, columns, default_hf_split)
    else:
        path = Path(source)
        if not path.is_file():
            raise DataError(f"{source}: file not found")
        kind = _format_of(path) if fmt == "auto" else fmt
        if kind == "jsonl":
            split = _read_jsonl(path, columns)
        else:
            split = _read_delimited(path, "\t" if kind == "tsv" else ",", columns, header)
    if not split.texts:
        raise DataError(f"{source}: no examples (empty file or split)")
    return split


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".txt"):
        return "tsv"
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".json"):
        return "jsonl"
    raise DataError(f"{path}: cannot tell the format from the extension {suffix!r}; set data.format (tsv, csv, jsonl)")


def _column_index(header_row: list[str] | None, column: str | int, path: Path, role: str) -> int:
    if isinstance(column, int):
        return column
    if header_row is None:
        if column.isdigit():
            return int(column)
        raise DataError(f"{path}: data.header is false, so data.{role}_column must be a 0-based index, got {column!r}")
    names = [h.strip() for h in header_row]
    if column not in names:
        raise DataError(f"{path}, line 1: no column {column!r} for data.{role}_column; columns: {names}")
    return names.index(column)


_ROLE_NAMES = {"text": "text", "text_b": "second text", "label": "label"}


def _example(values: dict[str, object], where: str, empty: str = "empty") -> tuple[Example, str]:
    """(text or pair, label) of one row's ``values`` by role, stripped; DataError naming ``where`` if a text is
    empty (or, from JSON-lines and datasets, ``empty="empty or non-string"``: not a string) or the label is."""
    for role in ("text", "text_b"):
        if role in values and (not isinstance(values[role], str) or not values[role].strip()):
            raise DataError(f"{where}: {empty} {_ROLE_NAMES[role]}")
    if values["label"] is None or str(values["label"]).strip() == "":
        raise DataError(f"{where}: empty label")
    values = {role: str(value).strip() for role, value in values.items()}
    text = (values["text"], values["text_b"]) if "text_b" in values else values["text"]
    return text, values["label"]


def _read_delimited(path: Path, delimiter: str, columns: dict[str, str | int], header: bool) -> Split:
    texts, labels, lines = [], [], []
    # utf-8-sig drops a BOM; TSV has no quoting convention in the corpora we read.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter, quoting=quoting)
            header_row = None
            if header:
                header_row = next(reader, None)
                if header_row is None:
                    raise DataError(f"{path}: empty file")
            index = {role: _column_index(header_row, column, path, role) for role, column in columns.items()}
            width = len(header_row) if header_row else None
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue  # blank line
                if width is not None and len(row) != width:
                    raise DataError(f"{path}, line {line}: expected {width} columns, found {len(row)}")
                if max(index.values()) >= len(row):
                    raise DataError(f"{path}, line {line}: expected at least {max(index.values()) + 1} columns, "
                                    f"found {len(row)}")
                text, label = _example({role: row[i] for role, i in index.items()}, f"{path}, line {line}")
                texts.append(text)
                labels.append(label)
                lines.append(line)
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except csv.Error as err:
        raise DataError(f"{path}: {err}") from None
    return Split(str(path), texts, labels, lines)


def jsonl_objects(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each non-blank line of a JSON-lines file; DataError naming the line otherwise."""
    with path.open(encoding="utf-8-sig") as fh:
        for line_no, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}, line {line_no}: not valid JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}, line {line_no}: expected a JSON object")
            yield line_no, row


def _read_jsonl(path: Path, columns: dict[str, str | int]) -> Split:
    texts, labels, lines = [], [], []
    for line_no, row in jsonl_objects(path):
        for role, col in columns.items():
            if str(col) not in row:
                raise DataError(
                    f"{path}, line {line_no}: no key {col!r} for data.{role}_column; keys: {sorted(row)}")
        values = {role: row[str(col)] for role, col in columns.items()}
        text, label = _example(values, f"{path}, line {line_no}", "empty or non-string")
        texts.append(text)
        labels.append(label)
        lines.append(line_no)
    return Split(str(path), texts, labels, lines)


def parse_hf_source(source: str, default_split: str) -> tuple[str, str | None, str]:
    """``hf:NAME[:CONFIG][@SPLIT]`` -> (name, config, split)."""
    spec = source[3:]
    split = default_split
    if "@" in spec:
        spec, split = spec.rsplit("@", 1)
    name, _, config = spec.partition(":")
    if not name:
        raise DataError(f"{source}: expected hf:NAME[:CONFIG][@SPLIT]")
    return name, config or None, split


def load_hf_dataset(source: str, default_split: str, streaming: bool = False):
    """The split of ``hf:NAME[:CONFIG][@SPLIT]`` through ``datasets``: a local ``save_to_disk`` directory, or a
    hub name (online; ``streaming`` reads it lazily). DataError naming the source if it cannot be loaded."""
    import datasets

    name, config, split = parse_hf_source(source, default_split)
    try:
        if Path(name).is_dir():
            loaded = datasets.load_from_disk(name)
            return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
        return datasets.load_dataset(name, config, split=split, streaming=streaming)
    except KeyError:
        raise DataError(f"{source}: no split {split!r}") from None
    except Exception as err:  # network, missing dataset, bad config name
        raise DataError(f"{source}: cannot load dataset: {err}") from None


def _read_hf(source: str, columns: dict[str, str | int], default_split: str) -> Split:
    """Load through ``datasets``: a local ``save_to_disk`` directory, or a hub name (online)."""
    import datasets

    ds = load_hf_dataset(source, default_split)
    for role, col in columns.items():
        if str(col) not in ds.column_names:
            raise DataError(f"{source}: no column {col!r} for data.{role}_column; columns: {ds.column_names}")
    label_col = str(columns["label"])
    feature = ds.features.get(label_col)
    label_names = feature.names if isinstance(feature, datasets.ClassLabel) else None
    texts, labels = [], []
    for i, row in enumerate(zip(*(ds[str(col)] for col in columns.values()))):
        values = dict(zip(columns, row))
        label = values["label"]
        if label is None or (isinstance(label, int) and label < 0):
            raise DataError(f"{source}, example {i}: missing label")
        values["label"] = label_names[label] if label_names else label
        text, label = _example(values, f"{source}, example {i}", "empty or non-string")
        texts.append(text)
        labels.append(label)
    return Split(source, texts, labels, [])
