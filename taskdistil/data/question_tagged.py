"""Reader for question + passage tagging splits (extractive QA as tagging, as IndoNLU FacQA): one example = the
question's words, the passage's words and one tag per passage word.

Formats (the list cells of ``taskdistil.data.tagged``: JSON arrays or Python-literal lists, never ``eval``):
- ``csv``: a header row naming the columns (FacQA: ``question,passage,seq_label``), one example per row;
- ``jsonl``: one object per line with the same keys (JSON arrays or list strings).
The columns are ``question_column``, ``passage_column`` and ``tag_column`` (names, or 0-based indices; for JSON
lines the index of the key in the object).

Bad input raises ``DataError`` naming file and line: a passage and tag list of different lengths, an empty passage
or question, a missing column, an unparsable list. (An unknown tag is reported by the task kind, which knows the
label space: ``taskdistil.tasks.question_tagging``.)
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from taskdistil.data.tagged import csv_cells, jsonl_cells, parse_list, tagged_format_of
from taskdistil.errors import DataError

csv.field_size_limit(1 << 30)


@dataclass(frozen=True)
class QuestionTaggedSplit:
    """Question words, passage words and passage tags of each example; ``lines[i]``: the 1-based line of example
    i. Tags are kept as written in the file."""

    source: str
    questions: list[list[str]]
    passages: list[list[str]]
    tags: list[list[str]]
    lines: list[int]

    def where(self, i: int, word: int | None = None) -> str:
        at = f"{self.source}, line {self.lines[i]}"
        return at if word is None else f"{at}, word {word + 1}"

    def __len__(self) -> int:
        return len(self.passages)


class _Rows:
    def __init__(self, source: str):
        self.source = source
        self.questions: list[list[str]] = []
        self.passages: list[list[str]] = []
        self.tags: list[list[str]] = []
        self.lines: list[int] = []

    def add(self, question: object, passage: object, tags: object, where: str, line: int) -> None:
        question = parse_list(question, where, "question token")
        passage, tags = parse_list(passage, where, "passage token"), parse_list(tags, where, "tag")
        if not passage:
            raise DataError(f"{where}: empty passage (no word to tag)")
        if not question:
            raise DataError(f"{where}: empty question")
        if len(passage) != len(tags):
            raise DataError(f"{where}: {len(passage)} passage tokens but {len(tags)} tags")
        self.questions.append(question)
        self.passages.append(passage)
        self.tags.append(tags)
        self.lines.append(line)

    def split(self) -> QuestionTaggedSplit:
        if not self.passages:
            raise DataError(f"{self.source}: no examples (empty file)")
        return QuestionTaggedSplit(self.source, self.questions, self.passages, self.tags, self.lines)


def read_question_tagged(path: str, *, format: str = "auto", question_column: int | str = "question",
                         passage_column: int | str = "passage", tag_column: int | str = -1,
                         header: bool = True) -> QuestionTaggedSplit:
    """Read one split (see the module docstring)."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{path}: file not found")
    kind = tagged_format_of(file) if format == "auto" else format
    columns = (question_column, passage_column, tag_column)
    try:
        if kind == "csv":
            return _read_csv(file, columns, header)
        if kind == "jsonl":
            return _read_jsonl(file, columns)
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    raise DataError(f"{path}: question tagging reads csv or jsonl files (format {kind!r}); a .csv or .jsonl name, "
                    "or data.format")


ROLES = ("question", "passage", "tag")


def _read_csv(path: Path, columns: tuple, header: bool) -> QuestionTaggedSplit:
    rows = _Rows(str(path))
    for cells, where, line in csv_cells(path, list(zip(columns, ROLES)), header):
        rows.add(*cells, where, line)
    return rows.split()


def _read_jsonl(path: Path, columns: tuple) -> QuestionTaggedSplit:
    rows = _Rows(str(path))
    for cells, where, line in jsonl_cells(path, list(zip(columns, ROLES))):
        rows.add(*cells, where, line)
    return rows.split()
