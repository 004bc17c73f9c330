"""The external-teacher JSONL schema, read from a file (``teacher.outputs``) or a command's stdout
(``teacher.command``).

One line per text: ``{"text": "...", "logits": [z_1, ..., z_C]}`` (``"text": [a, b]`` for a sentence pair) with
exactly one of ``logits`` (C finite numbers), ``probs`` (C numbers in [0, 1] summing to 1 within 1e-3) or ``label``
(one label name, or its integer spelling: a hard teacher). An optional first line ``{"labels": [...]}`` names the
columns of ``logits`` / ``probs`` (the same set as the training split's labels); without it they follow the
training split's label order. Other keys on a line are ignored; every line of one source gives the same kind.
Texts match after whitespace normalisation (runs of spaces, tabs and newlines count as one space); in a file, a text
given n times answers its first n occurrences in the transfer set in order (later ones take its last line), so a
file written in transfer-set order gives every row its own outputs even where texts repeat.

What the annotation cache stores (float32 rows in the training split's label order): logits as given; probs as
log-probabilities floored at log(1e-6) (a softmax gives the probabilities back); a label as a one-hot row, which
only hard distillation reads (``TARGETS``: the cache's ``targets`` entry).
"""

from __future__ import annotations

import json
import math
import shlex
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from taskdistil.data.pairs import Example
from taskdistil.errors import DataError, StageError

KINDS = ("logits", "probs", "label")
TARGETS = {"logits": "logits", "probs": "probs", "label": "labels"}  # a line's kind -> the cache's targets entry
HARD = "labels"
PROB_FLOOR = 1e-6
PROB_TOLERANCE = 1e-3
STDERR_SHOWN = 4000  # characters of a failing command's stderr in its error


def text_key(text) -> str | tuple[str, str]:
    """The whitespace-normalised text (a pair: a tuple of both), as outputs and transfer texts are matched."""
    if isinstance(text, str):
        return " ".join(text.split())
    return tuple(" ".join(t.split()) for t in text)


def preview(text: Example, width: int = 60) -> str:
    shown = text if isinstance(text, str) else " ||| ".join(text)
    return repr(shown if len(shown) <= width else shown[: width - 3] + "...")


class Schema:
    """Parses lines of one source into rows in the run's label order; remembers the source's kind and columns."""

    def __init__(self, labels: Sequence[str], kind: str | None = None, kind_origin: str = ""):
        self.labels = [str(label) for label in labels]
        self.index = {label: i for i, label in enumerate(self.labels)}
        self.columns: list[int] | None = None  # source column of each run label, None: the run's order
        self.kind = kind  # "logits", "probs" or "label", fixed by the first line (or by finished shards)
        self.kind_origin = kind_origin or "earlier lines"

    def header(self, obj: object, where: str) -> bool:
        """Whether ``obj`` is a labels header line (then its column order is taken); DataError if a bad one."""
        if not isinstance(obj, dict) or "labels" not in obj or "text" in obj:
            return False
        given = obj["labels"]
        if not isinstance(given, list) or not all(isinstance(x, (str, int)) and not isinstance(x, bool)
                                                  for x in given):
            raise DataError(f"{where}: the labels header must be a list of label names, got {given!r}")
        names = [str(x) for x in given]
        if len(set(names)) != len(names) or set(names) != set(self.labels):
            missing, unknown = sorted(set(self.labels) - set(names)), sorted(set(names) - set(self.labels))
            raise DataError(f"{where}: the labels header {names} must name each of the training split's labels "
                            f"{self.labels} once (missing: {missing}, unknown: {unknown}, repeated: "
                            f"{sorted({n for n in names if names.count(n) > 1})})")
        self.columns = [names.index(label) for label in self.labels]
        return True

    def row(self, obj: object, where: str, need_text: bool = True) -> tuple[object, np.ndarray]:
        """(the text's key or None, its float32 row (C,) in the run's label order)."""
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object with 'text' and one of {', '.join(KINDS)}, got "
                            f"{type(obj).__name__}")
        if "labels" in obj and "text" not in obj:
            raise DataError(f"{where}: a labels header is only allowed as the first line")
        given = [k for k in KINDS if k in obj]
        if len(given) != 1:
            raise DataError(f"{where}: a line holds exactly one of 'logits', 'probs' or 'label', got "
                            f"{given or 'none of them'}")
        kind = given[0]
        if self.kind is None:
            self.kind = kind
        elif kind != self.kind:
            raise DataError(f"{where}: {kind!r} where {self.kind_origin} give {self.kind!r}: one teacher gives one "
                            "kind of output")
        key = None
        if "text" in obj or need_text:
            key = _key(obj.get("text"), where)
        return key, self._values(kind, obj[kind], where)

    def _values(self, kind: str, value: object, where: str) -> np.ndarray:
        size = len(self.labels)
        if kind == "label":
            name = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
            if name not in self.index:
                raise DataError(f"{where}: unknown label {value!r}; labels: {self.labels}")
            row = np.zeros(size, dtype=np.float32)
            row[self.index[name]] = 1.0
            return row
        if (not isinstance(value, list) or len(value) != size
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                           for x in value)):
            got = f"a list of {len(value)}" if isinstance(value, list) else type(value).__name__
            raise DataError(f"{where}: {kind} must be a list of {size} finite numbers (one per label, "
                            f"{self._order()}), got {got}" + (f": {value}" if isinstance(value, list) else ""))
        row = np.asarray(value, dtype=np.float64)
        if kind == "probs":
            if row.min() < 0 or row.max() > 1 or abs(row.sum() - 1) > PROB_TOLERANCE:
                raise DataError(f"{where}: probs must lie in [0, 1] and sum to 1 (within {PROB_TOLERANCE}), got "
                                f"{value} (sum {row.sum():.4f})")
            row = np.log(np.maximum(row, PROB_FLOOR))
        if self.columns is not None:
            row = row[self.columns]
        return row.astype(np.float32)

    def _order(self) -> str:
        return "in the labels header's order" if self.columns is not None else f"in the order {self.labels}"


def _key(text: object, where: str):
    if isinstance(text, str):
        return text_key(text)
    if isinstance(text, list) and len(text) == 2 and all(isinstance(t, str) for t in text):
        return text_key(text)
    raise DataError(f"{where}: 'text' must be a string, or a list of two strings for a sentence pair, got {text!r}")


def parse_json(line: str, where: str) -> object:
    try:
        return json.loads(line)
    except json.JSONDecodeError as err:
        raise DataError(f"{where}: not valid JSON ({err.msg} at column {err.colno}): {line[:80]!r}") from None


class OutputsFile:
    """A ``teacher.outputs`` file parsed once: ``table`` (rows, C) float32 and the rows of each text's key, in file
    order."""

    def __init__(self, path: Path, labels: Sequence[str]):
        self.path = Path(path)
        self.schema = Schema(labels)
        self.rows: dict[object, list[int]] = {}
        values: list[np.ndarray] = []
        first = True
        with self.path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = f"{self.path}, line {number}"
                obj = parse_json(line, where)
                if first and self.schema.header(obj, where):
                    first = False
                    continue
                first = False
                key, row = self.schema.row(obj, where)
                self.rows.setdefault(key, []).append(len(values))
                values.append(row)
        if not values:
            raise DataError(f"{self.path}: no output lines (one JSON line per text: README, External teachers)")
        self.table = np.stack(values)  # (rows, C)
        self.kind = self.schema.kind

    def rows_for(self, texts: Sequence[Example], where: Callable[[int], str] | None = None,
                 required: bool = True) -> np.ndarray:
        """The table row of each text (-1 where not covered; a repeated text takes the key's rows in order, then
        its last); DataError naming the first missing one if ``required``."""
        seen: dict[object, int] = {}

        def row(text: Example) -> int:
            key = text_key(text)
            rows = self.rows.get(key)
            if rows is None:
                return -1
            n = seen[key] = seen.get(key, -1) + 1
            return rows[min(n, len(rows) - 1)]

        found = np.fromiter((row(t) for t in texts), dtype=np.int64, count=len(texts))
        missing = np.flatnonzero(found < 0)
        if required and len(missing):
            i = int(missing[0])
            place = where(i) if where else f"text {i}"
            raise DataError(f"{self.path}: no output for {place}: {preview(texts[i])} ({len(missing):,} of "
                            f"{len(texts):,} texts missing); an outputs file must cover every transfer-set text")
        return found


def run_command(command: str, texts: Sequence[Example], schema: Schema, what: str) -> np.ndarray:
    """(len(texts), C) float32: ``command`` run once with ``texts`` as JSONL on its stdin (``{"text": ...}`` per
    line), its stdout parsed as one output line per input line, in order (an optional labels header first; a
    line's ``text``, if given, must be its input's). ``what`` names the batch in errors (e.g. "shard 3")."""
    try:
        argv = shlex.split(command)
    except ValueError as err:
        raise DataError(f"teacher.command: cannot split {command!r} into arguments ({err})") from None
    payload = "".join(json.dumps({"text": t if isinstance(t, str) else list(t)}, ensure_ascii=False) + "\n"
                      for t in texts)
    try:
        done = subprocess.run(argv, input=payload.encode("utf-8"), capture_output=True, check=False)
    except OSError as err:
        raise StageError(f"teacher.command: cannot start {command!r} ({err})") from None
    stderr = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode != 0:
        shown = stderr[-STDERR_SHOWN:] or "(nothing on stderr)"
        raise StageError(f"teacher.command {command!r} exited with status {done.returncode} on {what} "
                         f"({len(texts)} texts); finished shards are kept. Its stderr:\n{shown}")
    out = done.stdout.decode("utf-8", "replace").splitlines()
    numbered = [(n, line) for n, line in enumerate(out, 1) if line.strip()]
    rows: list[np.ndarray] = []
    for position, (number, line) in enumerate(numbered):
        where = f"teacher.command output for {what}, line {number}"
        obj = parse_json(line, where)
        if position == 0 and schema.header(obj, where):
            continue
        if len(rows) == len(texts):
            raise DataError(f"{where}: more output lines than the {len(texts)} input texts")
        key, row = schema.row(obj, where, need_text=False)
        expected = text_key(texts[len(rows)])
        if key is not None and key != expected:
            raise DataError(f"{where}: answers text {preview(key)}, but input line {len(rows) + 1} is "
                            f"{preview(expected)} (one output line per input line, in order)")
        rows.append(row)
    if len(rows) != len(texts):
        raise DataError(f"teacher.command output for {what}: {len(rows)} output lines for {len(texts)} input texts "
                        "(one output line per input line, in order)")
    return np.stack(rows)  # (n, C)
