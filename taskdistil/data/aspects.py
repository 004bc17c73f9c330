"""Reader for multi-aspect splits: one text and N aspect columns, each holding that aspect's label.

Sources: ``.csv`` / ``.tsv`` files with a header row, or ``.jsonl`` objects. The aspects are the columns named in
``aspect_columns``, or (None) every column except the text's, in file order. Every malformed row raises
``DataError`` naming file and line (and the aspect column, for an empty label).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from taskdistil.data.readers import jsonl_objects
from taskdistil.errors import DataError


@dataclass
class AspectSplit:
    """Texts of one split and, per example, the raw label of every aspect (``labels[i][a]``: aspect ``aspects[a]``)."""

    source: str
    aspects: tuple[str, ...]
    texts: list[str]
    labels: list[tuple[str, ...]]
    lines: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def where(self, i: int) -> str:
        return f"{self.source}, line {self.lines[i]}" if self.lines else f"{self.source}, example {i}"


def _format_of(path: Path, fmt: str) -> str:
    if fmt != "auto":
        if fmt not in ("csv", "tsv", "jsonl"):
            raise DataError(f"{path}: task 'multi_aspect' reads csv, tsv or jsonl, not {fmt!r}")
        return fmt
    suffix = path.suffix.lower()
    kinds = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}
    if suffix not in kinds:
        raise DataError(f"{path}: cannot tell the format from the extension {suffix!r}; set data.format "
                        "(csv, tsv, jsonl)")
    return kinds[suffix]


def _aspects_of(names: Sequence[str], text_column: str, aspect_columns: Sequence[str] | None, where: str
                ) -> tuple[str, ...]:
    if text_column not in names:
        raise DataError(f"{where}: no column {text_column!r} for data.text_column; columns: {list(names)}")
    aspects = tuple(aspect_columns) if aspect_columns is not None else tuple(n for n in names if n != text_column)
    missing = [a for a in aspects if a not in names]
    if missing:
        raise DataError(f"{where}: no column {missing[0]!r} of data.aspect_columns; columns: {list(names)}")
    if not aspects:
        raise DataError(f"{where}: no aspect columns besides the text column {text_column!r}")
    return aspects


def _row(values: dict, text_column: str, aspects: Sequence[str], where: str) -> tuple[str, tuple[str, ...]]:
    text = values.get(text_column)
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: empty or non-string text")
    labels = []
    for aspect in aspects:
        value = values.get(aspect)
        if value is None or str(value).strip() == "":
            raise DataError(f"{where}: empty label in aspect column {aspect!r}")
        labels.append(str(value).strip())
    return text.strip(), tuple(labels)


def read_aspects(source: str, text_column: str, aspect_columns: Sequence[str] | None = None,
                 fmt: str = "auto") -> AspectSplit:
    """One split of a multi-aspect task (header row required for csv/tsv)."""
    path = Path(source)
    if not path.is_file():
        raise DataError(f"{source}: file not found")
    kind = _format_of(path, fmt)
    texts, labels, lines = [], [], []
    aspects: tuple[str, ...] | None = None
    try:
        if kind == "jsonl":
            for line, row in jsonl_objects(path):
                where = f"{path}, line {line}"
                if aspects is None:
                    aspects = _aspects_of(list(row), text_column, aspect_columns, where)
                missing = [c for c in (text_column, *aspects) if c not in row]
                if missing:
                    raise DataError(f"{where}: no key {missing[0]!r}; keys: {sorted(row)}")
                text, row_labels = _row(row, text_column, aspects, where)
                texts.append(text), labels.append(row_labels), lines.append(line)
        else:
            with path.open(encoding="utf-8-sig", newline="") as fh:
                reader = csv.reader(fh, delimiter="\t" if kind == "tsv" else ",",
                                    quoting=csv.QUOTE_NONE if kind == "tsv" else csv.QUOTE_MINIMAL)
                header = next(reader, None)
                if header is None:
                    raise DataError(f"{path}: empty file")
                names = [h.strip() for h in header]
                aspects = _aspects_of(names, text_column, aspect_columns, f"{path}, line 1")
                for row in reader:
                    if not row or all(not c.strip() for c in row):
                        continue
                    where = f"{path}, line {reader.line_num}"
                    if len(row) != len(names):
                        raise DataError(f"{where}: expected {len(names)} columns, found {len(row)}")
                    text, row_labels = _row(dict(zip(names, row)), text_column, aspects, where)
                    texts.append(text), labels.append(row_labels), lines.append(reader.line_num)
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except csv.Error as err:
        raise DataError(f"{path}: {err}") from None
    if not texts:
        raise DataError(f"{source}: no examples (empty file)")
    return AspectSplit(str(path), aspects, texts, labels, lines)
