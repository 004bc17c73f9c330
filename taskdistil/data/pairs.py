"""Sentence pairs: an example is a text or a pair of texts ``(a, b)``; BERT-style token types of a pair.

A BERT-family model reads a pair as one sequence ``[CLS] a [SEP] b [SEP]`` with token types 0 for
``[CLS] a [SEP]`` and 1 for ``b [SEP]`` (Devlin et al. 2019). The types follow from the ids alone: 1 after the
first separator. ``segment_ids`` computes them inside a model's forward, so every model keeps one input
signature ``(ids, mask)`` and its ONNX graph derives the types itself. (A text that itself holds the separator
token, e.g. a literal "[SEP]", would shift them: the teacher's encoding refuses such a pair, naming it.)
Siamese students instead read each text alone (``taskdistil.students.pairs``).

No PyTorch import here: ``segment_ids`` only uses tensor methods, and the rest is plain Python.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from taskdistil.errors import DataError

SINGLE_SENTENCE = "single_sentence"
SENTENCE_PAIR = "sentence_pair"
Example = str | tuple[str, str]


def is_pair(example: object) -> bool:
    return isinstance(example, tuple)


def sentences(examples: Sequence[Example]) -> Iterator[str]:
    """Every text of ``examples``: both texts of a pair."""
    for example in examples:
        yield from (example if is_pair(example) else (example,))


def as_examples(items: Sequence[object], task: str) -> list[Example]:
    """Inputs of a model of ``task``, checked: texts, or for pairs ``(a, b)`` tuples (2-element lists accepted,
    as JSON gives them). A single pair given alone is taken as a list of one."""
    if isinstance(items, str) or (task == SENTENCE_PAIR and _pair_like(items)):
        items = [items]
    out: list[Example] = []
    for i, item in enumerate(items):
        if task == SENTENCE_PAIR:
            if not _pair_like(item):
                raise DataError(f"example {i}: a sentence-pair model takes pairs (text_a, text_b), got "
                                f"{type(item).__name__} {item!r:.60}")
            out.append((item[0], item[1]))
        elif isinstance(item, str):
            out.append(item)
        else:
            raise DataError(f"example {i}: a single-sentence model takes texts, got {type(item).__name__} "
                            f"{item!r:.60}")
    return out


def _pair_like(item: object) -> bool:
    return isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(t, str) for t in item)


def segment_ids(input_ids, sep_id: int):
    """(B, T) token types of rows ``[CLS] a [SEP] b [SEP] [PAD]...``: 0 up to and including the first separator,
    1 after it (padding too: it is masked out of attention, so its type changes nothing)."""
    sep = (input_ids == sep_id).long()  # (B, T)
    return ((sep.cumsum(1) - sep) > 0).long()


def segments_of(ids: Sequence[int], sep_id: int) -> list[int]:
    """``segment_ids`` of one unpadded id list, in plain Python."""
    first = list(ids).index(sep_id) if sep_id in ids else len(ids)
    return [0] * min(len(ids), first + 1) + [1] * max(0, len(ids) - first - 1)
