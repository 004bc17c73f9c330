"""A CoNLL file's sentences as word lists, tags ignored (unlabeled text for transfer sets), streamed.

One token per line, blank line (or a run of them) between sentences, ``-DOCSTART-`` lines skipped; the token is
column ``column`` (0-based; cells split on tabs when the line holds one, else on whitespace); every other column
(the tags) is ignored. WikiANN writes every token as ``lang:token``: ``lang_prefix`` ``auto`` strips the prefix
when every token of the file's first sentence carries the same ``xx:`` prefix (then that prefix, and only it, is
stripped wherever present), ``strip`` strips any ``xx:`` prefix, ``keep`` never strips.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from taskdistil.data.tagged import DOCSTART
from taskdistil.errors import DataError

_PREFIX = re.compile(r"^([a-z]{2,3}):(?=.)", re.DOTALL)


def conll_sentences(path: Path, column: int = 0, lang_prefix: str = "auto") -> Iterator[tuple[list[str], str]]:
    """(words, "path, line N") of every sentence of a CoNLL file, tags ignored; the file is never held whole."""
    if not path.is_file():
        raise DataError(f"{path}: unlabeled source not found")
    words: list[str] = []
    start, prefix = 0, None if lang_prefix == "auto" else lang_prefix
    try:
        with path.open(encoding="utf-8-sig") as fh:
            for line_no, raw in enumerate(fh, 1):
                line = raw.rstrip("\r\n")
                if not line.strip() or line.split(None, 1)[0] == DOCSTART:
                    if words:
                        prefix = prefix if prefix is not None else _common_prefix(words)
                        yield _strip(words, prefix), f"{path}, line {start}"
                        words = []
                    continue
                cells = line.split("\t") if "\t" in line else line.split()
                try:
                    token = cells[column].strip()
                except IndexError:
                    raise DataError(f"{path}, line {line_no}: no column {column} (the source's token column): "
                                    f"{line[:80]!r}") from None
                if not token:
                    raise DataError(f"{path}, line {line_no}: empty token in column {column}")
                if not words:
                    start = line_no
                words.append(token)
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    if words:
        yield _strip(words, prefix if prefix is not None else _common_prefix(words)), f"{path}, line {start}"


def _common_prefix(words: list[str]) -> str:
    """``"xx:"`` when every word carries that language prefix, else ``"keep"``."""
    found = {m.group(1) if (m := _PREFIX.match(w)) else None for w in words}
    return f"{found.pop()}:" if len(found) == 1 and None not in found else "keep"


def _strip(words: list[str], prefix: str) -> list[str]:
    if prefix == "keep":
        return words
    if prefix == "strip":
        return [_PREFIX.sub("", w, count=1) for w in words]
    return [w[len(prefix):] if w.startswith(prefix) and len(w) > len(prefix) else w for w in words]
