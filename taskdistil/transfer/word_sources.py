"""Unlabeled sentences as word lists, for word-level task kinds (token tagging), and CoNLL files as unlabeled text.

Two ways a source becomes words:

- ``format: conll`` (one token per line, blank line between sentences, e.g. WikiANN's ``extra`` split): the tokens
  of column ``column`` (a 0-based index; 0 unless an int is given) are the words; every other column (the tags) is
  ignored, ``-DOCSTART-`` lines are skipped. The ``lang:`` prefix of WikiANN (``id:kota``) is stripped under
  ``lang_prefix: auto`` when every token of the file's first sentence carries the same ``xx:`` prefix (then that
  prefix, and only it, is stripped wherever present), always under ``strip``, never under ``keep``. Streamed: the
  file is never held whole. For a sentence-level task the words are joined by single spaces.
- any text source (.txt, .jsonl, .csv, .tsv, ``hf:``; ``taskdistil.transfer.sources``): each example is split into
  words by ``word_split``: ``punct`` (default) splits on whitespace and cuts every punctuation mark off as a word of
  its own (regex ``\\w+|[^\\w\\s]``: "Jakarta, 2020." -> Jakarta , 2020 .), the way CoNLL-style tagged corpora
  (WikiANN, IndoNLU) write sentences; ``whitespace`` splits on whitespace only.

``min_words`` / ``max_words`` count these words; a sentence with no word is dropped (counted as empty).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from taskdistil.config import UnlabeledSource
from taskdistil.data.conll_words import conll_sentences
from taskdistil.transfer.sources import SourceCounts, conll_column, read_unlabeled

_PUNCT_WORDS = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def split_words(text: str, how: str = "punct") -> list[str]:
    """The words of ``text``: ``punct`` whitespace and punctuation split, ``whitespace`` whitespace only."""
    return _PUNCT_WORDS.findall(text) if how == "punct" else text.split()


def read_unlabeled_words(source: UnlabeledSource, resolved: str, counts=None) -> Iterator[tuple[list[str], str]]:
    """(words, where) of every example of ``source``, filtered by ``min_words`` / ``max_words`` on words."""
    counts = counts if counts is not None else SourceCounts()
    if source.format == "conll" and not resolved.startswith("hf:"):
        stream = conll_sentences(Path(resolved), conll_column(source), source.lang_prefix)
        for words, where in stream:
            counts.documents += 1
            if _keep(len(words), source, counts):
                counts.examples += 1
                yield words, where
        return
    loose = source.model_copy(update={"min_words": 1, "max_words": None})  # the filters apply to the split words
    inner = SourceCounts()
    for text, where in read_unlabeled(loose, resolved, inner):
        counts.documents = inner.documents
        words = split_words(text, source.word_split)
        if _keep(len(words), source, counts):
            counts.examples += 1
            yield words, where
    counts.documents, counts.empty = inner.documents, counts.empty + inner.empty


def _keep(n: int, source: UnlabeledSource, counts) -> bool:
    if n == 0:
        counts.empty += 1
    elif n < source.min_words:
        counts.too_short += 1
    elif source.max_words is not None and n > source.max_words:
        counts.too_long += 1
    else:
        return True
    return False
