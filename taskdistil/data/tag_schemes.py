"""Tag schemes of token tagging: detection, validation, conversion and span extraction.

Span schemes (a tag is ``O`` or ``PREFIX-TYPE``; bare ``B``/``I``/``O`` tags are untyped spans, type ``""``):
- ``iob1``: ``I-X`` starts and continues a span; ``B-X`` only starts a span right after one of the same type;
- ``iob2``: every span starts with ``B-X``, continues with ``I-X``;
- ``bioes``: ``B-X I-X* E-X`` for a span of two or more words, ``S-X`` for one word;
- ``io``: every word of a span is ``I-X`` (two adjacent spans of one type cannot be told apart).
``plain``: one label per word with no span structure (POS tags): detected when no tag is ``O``, ``I-X``, ``E-X`` or
``S-X``, or when fewer than half of the distinct tags look like span tags (a POS set with an ``S`` tag). IndoNLU
POSP writes every POS tag with a ``B-`` prefix (``B-NNO``) and has no ``O`` and no ``I-`` tag: it is detected as
``plain``, its tags kept as written, and scored by token accuracy (the issue's metric for POSP). IndoNLU reports
F1 for POSP, computed conlleval-style over these tags, where every word is a one-word span: as many predicted as
gold spans, so its precision, recall and F1 all equal token accuracy.

Spans are read leniently, as conlleval does: ``B`` opens a span, ``I``/``E`` continue an open span of their type
or else open one, ``E``/``S`` close it. Every scheme decodes to the same spans this way, so a tag that is
ill-formed for its scheme (an ``I-X`` starting a span in IOB2, a ``B-X`` after ``O`` in IOB1, an ``E-X`` without
``B-X``) loses nothing: ``convert`` repairs it and ``ill_formed`` counts it for the log. Training uses IOB2
(``TRAINING_SCHEME``; plain stays plain); predictions are converted back to the file's scheme for output.

Mixed IOB1/IOB2 in one file: ``detect_scheme`` counts the span starts that only IOB1 allows (``I-X`` after ``O``
or another type) and those that only IOB2 allows (``B-X`` after ``O`` or another type). If both occur and the
rarer kind is more than ``max_mixed`` (1%) of all span starts, the file is mixed: DataError naming the first line
of each kind. Below that, the rarer kind is read as annotation slips of the majority scheme, repaired as above and
counted by ``ill_formed`` (IndoNLU TermA: 8 ``I-`` span starts among 12,572 spans in train, 5 among 4,147 in
test; declared ``iob2`` reads it the same way). ``bench/tagging_data.py`` lists every shared dataset.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from taskdistil.errors import DataError

SCHEMES = ("iob1", "iob2", "bioes", "io", "plain")
SPAN_SCHEMES = ("iob1", "iob2", "bioes", "io")
TRAINING_SCHEME = "iob2"
OUTSIDE = "O"
_PREFIXES = {"iob1": "BI", "iob2": "BI", "bioes": "BIES", "io": "I"}
_SPAN_TAG = re.compile(r"^([BIES])(?:-(.+))?$", re.DOTALL)

Span = tuple[str, int, int]  # (type, start, end exclusive)
Where = Callable[..., str]


def training_scheme(scheme: str) -> str:
    """The scheme models train on: ``plain`` for plain tags, ``TRAINING_SCHEME`` (IOB2) for any span scheme."""
    _check_name(scheme)
    return "plain" if scheme == "plain" else TRAINING_SCHEME


def split_tag(tag: str) -> tuple[str, str] | None:
    """``"B-PER"`` -> ``("B", "PER")``, ``"B"`` -> ``("B", "")``, ``"O"`` -> ``("O", "")``; None if not span-shaped."""
    if tag == OUTSIDE:
        return OUTSIDE, ""
    match = _SPAN_TAG.match(tag)
    return (match.group(1), match.group(2) or "") if match else None


def join_tag(prefix: str, kind: str) -> str:
    return OUTSIDE if prefix == OUTSIDE else f"{prefix}-{kind}" if kind else prefix


def detect_scheme(tags: Sequence[Sequence[str]], where: Where, *, max_mixed: float = 0.01) -> str:
    """The scheme of a split's tags (see the module docstring); DataError on mixed IOB1/IOB2 or a stray tag."""
    tagset = {t for sentence in tags for t in sentence}
    parsed = {t: split_tag(t) for t in tagset}
    prefixes = {p[0] for p in parsed.values() if p is not None}
    shaped = sum(p is not None for p in parsed.values())
    if not prefixes & {OUTSIDE, "I", "E", "S"} or 2 * shaped < len(tagset):
        scheme = "plain"  # no span structure (POSP's all-"B-" POS tags), or mostly labels like NN, VB
    elif prefixes & {"E", "S"}:
        scheme = "bioes"
    elif "B" not in prefixes:
        scheme = "io" if "I" in prefixes else TRAINING_SCHEME
    else:
        scheme = _iob1_or_iob2(tags, where, max_mixed)
    check_scheme(tags, scheme, where)
    return scheme


def _iob1_or_iob2(tags: Sequence[Sequence[str]], where: Where, max_mixed: float) -> str:
    starts = {"iob1": 0, "iob2": 0}  # span starts only IOB1 allows (I-X), only IOB2 allows (B-X after O/other)
    first: dict[str, str] = {}
    total = 0
    for i, sentence in enumerate(tags):
        prev = (OUTSIDE, "")
        for j, tag in enumerate(sentence):
            cur = split_tag(tag)
            if cur is None:
                continue
            opens = cur[0] in "BI" and (prev[0] == OUTSIDE or prev[1] != cur[1])
            if opens:
                kind = "iob1" if cur[0] == "I" else "iob2"
                starts[kind] += 1
                first.setdefault(kind, f"{word_at(where, i, j)} ({tag!r})")
            total += cur[0] == "B" or opens
            prev = cur
    if starts["iob1"] and starts["iob2"]:
        rare = min(starts, key=starts.get)
        if starts[rare] > max_mixed * total:
            raise DataError(
                f"mixed IOB1 and IOB2 tags in one file: {starts['iob1']} spans start with I- (IOB1), first at "
                f"{first['iob1']}; {starts['iob2']} start with B- after O or another type (IOB2), first at "
                f"{first['iob2']}. Make the file consistent, or declare data.tag_scheme to read every span start "
                f"leniently (repairs are counted)")
    return "iob1" if starts["iob1"] > starts["iob2"] else "iob2"


def check_scheme(tags: Sequence[Sequence[str]], scheme: str, where: Where) -> None:
    """DataError naming file, line and tag for the first tag outside ``scheme`` (plain: an empty tag)."""
    _check_name(scheme)
    allowed = _PREFIXES.get(scheme, "")
    for i, sentence in enumerate(tags):
        for j, tag in enumerate(sentence):
            if scheme == "plain":
                if not tag.strip():
                    raise DataError(f"{word_at(where, i, j)}: empty tag")
                continue
            parsed = split_tag(tag)
            if parsed is None or (parsed[0] != OUTSIDE and parsed[0] not in allowed):
                shapes = ", ".join([OUTSIDE] + [f"{p}-TYPE" for p in allowed])
                raise DataError(f"{word_at(where, i, j)}: tag {tag!r} is outside the {scheme} scheme "
                                f"(allowed: {shapes}, or bare {'/'.join(allowed)})")


def spans(seq: Sequence[str], scheme: str) -> list[Span]:
    """Spans ``(type, start, end)`` of one sentence's span tags, read leniently (any span scheme decodes alike)."""
    _check_name(scheme)
    if scheme == "plain":
        raise ValueError("plain tags have no spans")
    out: list[Span] = []
    open_kind: str | None = None
    start = 0
    for j, tag in enumerate(seq):
        parsed = split_tag(tag)
        if parsed is None:
            raise ValueError(f"tag {tag!r} (word {j + 1}) is not a {scheme} tag")
        prefix, kind = parsed
        continues = open_kind is not None and open_kind == kind and prefix in "IE"
        if not continues and open_kind is not None:
            out.append((open_kind, start, j))
            open_kind = None
        if prefix == OUTSIDE:
            continue
        if not continues:
            open_kind, start = kind, j
        if prefix in "ES":
            out.append((kind, start, j + 1))
            open_kind = None
    if open_kind is not None:
        out.append((open_kind, start, len(seq)))
    return out


def encode(span_list: Sequence[Span], length: int, scheme: str) -> list[str]:
    """Tags of a sentence of ``length`` words holding the (non-overlapping, sorted) spans, in ``scheme``."""
    _check_name(scheme)
    if scheme == "plain":
        raise ValueError("plain tags have no spans")
    out = [OUTSIDE] * length
    prev_end, prev_kind = -1, None
    for kind, start, end in span_list:
        for j in range(start, end):
            out[j] = join_tag("I", kind)
        if scheme == "iob2" or (scheme == "iob1" and start == prev_end and kind == prev_kind):
            out[start] = join_tag("B", kind)
        elif scheme == "bioes":
            if end - start == 1:
                out[start] = join_tag("S", kind)
            else:
                out[start], out[end - 1] = join_tag("B", kind), join_tag("E", kind)
        prev_end, prev_kind = end, kind
    return out


def convert(seq: Sequence[str], source: str, target: str) -> list[str]:
    """One sentence's tags from ``source`` to ``target`` through their spans (ill-formed tags are repaired;
    to ``io`` two adjacent spans of one type merge). Plain tags convert only to plain."""
    if source == "plain" or target == "plain":
        _check_name(source), _check_name(target)
        if source != target:
            raise ValueError(f"cannot convert {source} tags to {target}")
        return list(seq)
    return encode(spans(seq, source), len(seq), target)


def ill_formed(seq: Sequence[str], scheme: str) -> int:
    """How many tags of one sentence are ill-formed in ``scheme`` (the tags ``convert`` to itself repairs)."""
    if scheme == "plain":
        return 0
    return sum(a != b for a, b in zip(seq, convert(seq, scheme, scheme)))


def entity_types(tags: Sequence[Sequence[str]], scheme: str) -> list[str]:
    """Sorted span types occurring in span tags (``""`` for bare tags); for plain tags, the sorted distinct tags."""
    tagset = {t for sentence in tags for t in sentence}
    if scheme == "plain":
        return sorted(tagset)
    return sorted({p[1] for p in map(split_tag, tagset) if p is not None and p[0] != OUTSIDE})


def label_list(types: Sequence[str], scheme: str) -> list[str]:
    """Every tag of ``scheme`` over ``types``: ``O`` first, then each type's prefixes (plain: the types)."""
    if scheme == "plain":
        return list(types)
    return [OUTSIDE] + [join_tag(p, kind) for kind in types for p in _PREFIXES[scheme]]


def word_at(where: Where, i: int, j: int) -> str:
    """Location of word j of sentence i: ``where(i, j)`` when it takes a word index, else ``where(i)`` + word."""
    try:
        return where(i, j)
    except TypeError:
        return f"{where(i)}, word {j + 1}"


def _check_name(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; one of {', '.join(SCHEMES)}")
