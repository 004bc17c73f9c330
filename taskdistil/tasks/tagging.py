"""Token tagging (``token_tagging``): one tag per word (NER, POS, term extraction).

Splits are read by ``taskdistil.data.tagged.read_tagged`` (CoNLL columns, CSV/JSONL token-list rows, ``hf:``).
The tag scheme is declared (``data.scheme``) or detected on the training split, checked on every split (a tag
outside it names file, line and tag), and every split is converted to one training scheme: IOB2 for span schemes
(IOB1, IOB2, BIOES, IO, bare B/I/O), the tags as they are for ``plain`` (POS). The label space holds, for every span
type seen in training, both its B- and I- tags (and O), so no tag the model can predict is missing. ``predict``
converts back to the file's scheme and also returns the entity spans.

Metrics (``taskdistil.tasks.tagging_metrics``): span schemes: seqeval strict micro precision/recall/F1 (primary
"f1") and F1 per type; plain tags: token accuracy (primary "accuracy").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from taskdistil.data import Split
from taskdistil.data.tag_schemes import (
    TRAINING_SCHEME,
    check_scheme,
    convert,
    detect_scheme,
    entity_types,
    ill_formed,
    label_list,
    spans,
    training_scheme,
    word_at,
)
from taskdistil.data.tagged import read_tagged
from taskdistil.errors import DataError
from taskdistil.evaluation import Evaluation
from taskdistil.progress import log
from taskdistil.tasks.base import Baseline
from taskdistil.tasks.classification import majority_class, one_hot_logits
from taskdistil.tasks.statistics import ratio_of_sums, span_f1_of_sums
from taskdistil.tasks.tagging_metrics import sentence_counts, tagging_metrics
from taskdistil.tasks.words import encode_words

PLAIN = "plain"


@dataclass(frozen=True)
class TagLabels:
    """The label space of a tagging task: tags in id order (training scheme ``scheme``), and the scheme the data
    was written in (``source_scheme``: predictions are converted back to it)."""

    labels: tuple[str, ...]
    scheme: str
    source_scheme: str

    def __len__(self) -> int:
        return len(self.labels)

    def ids(self, tags: Sequence[Sequence[str]], where) -> list[np.ndarray]:
        index = {tag: i for i, tag in enumerate(self.labels)}
        out = []
        for i, seq in enumerate(tags):
            unknown = [j for j, t in enumerate(seq) if t not in index]
            if unknown:
                j = unknown[0]
                raise DataError(f"{word_at(where, i, j)}: tag {seq[j]!r} (as {self.scheme}) does not occur in the "
                                f"training split; known tags: {list(self.labels)}")
            out.append(np.asarray([index[t] for t in seq], dtype=np.int64))
        return out

    def meta(self) -> dict:
        return {"scheme": self.scheme, "source_scheme": self.source_scheme}

    @classmethod
    def from_tags(cls, tags: Sequence[Sequence[str]], scheme: str, source_scheme: str, where) -> "TagLabels":
        """Every tag of ``scheme`` (the training scheme) over the types seen in ``tags``: O and both tags of each
        span type (plain: the tags seen)."""
        labels = label_list(entity_types(tags, scheme), scheme)
        if len(labels) < 2:
            raise DataError(f"{where(0).rsplit(',', 1)[0]}: the training split has {len(labels)} distinct tag(s); "
                            "need >= 2")
        return cls(tuple(labels), scheme, source_scheme)


def split_scheme(declared: str, train: Any) -> str:
    """The tag scheme of a task's splits: ``declared`` (``data.scheme``), or the one detected on the training
    split's tags when it is "auto"."""
    return declared if declared != "auto" else detect_scheme(train.tags, train.where)


def training_tags(read: dict[str, Any], scheme: str) -> tuple[dict, dict, TagLabels]:
    """(per split, its tag sequences checked against ``scheme`` and converted to the training scheme; per split,
    how many ill-formed sequences the conversion repaired; the label space of the training split's tags).
    ``read``: split name -> a read split with ``tags`` and ``where``."""
    target = training_scheme(scheme)
    tags, repaired = {}, {}
    for name, split in read.items():
        check_scheme(split.tags, scheme, split.where)
        tags[name] = [convert(seq, scheme, target) for seq in split.tags]
        repaired[name] = sum(ill_formed(seq, scheme) for seq in split.tags)
    return tags, repaired, TagLabels.from_tags(tags["train"], target, scheme, read["train"].where)


@dataclass
class TaggedData:
    """The splits of a tagging task: ``train``/``dev``/``test`` are ``Split``s whose ``texts`` are word lists;
    ``tags[split]`` the tags of each sentence in the training scheme."""

    labels: TagLabels
    train: Split
    dev: Split
    test: Split
    tags: dict[str, list[list[str]]]
    skipped: dict[str, int]  # empty sentences skipped per split
    repaired: dict[str, int]  # ill-formed tags (an I- starting a span) repaired by the conversion, per split
    window_overlap: int = 8  # words shared by the windows of a sentence longer than a model reads (data.window_overlap)
    locate: dict[str, Callable] = field(default_factory=dict)  # per split: (sentence, word) -> "file, line N"

    def notes(self) -> str:
        """What reading left out or repaired, for the log ("" if nothing)."""
        parts = [f"{n}: {k} empty sentence(s) skipped" for n, k in self.skipped.items() if k]
        parts += [f"{n}: {k} ill-formed tag(s) repaired" for n, k in self.repaired.items() if k]
        return "; ".join(parts)

    def inputs(self, split: str) -> list[list[str]]:
        return getattr(self, split).texts

    def gold(self, split: str) -> list[np.ndarray]:
        return self.labels.ids(self.tags[split], self.locate.get(split) or getattr(self, split).where)

    def label_ids(self, split: str) -> list[np.ndarray]:
        return self.gold(split)


class TokenTagging:
    name = "token_tagging"
    unit = "word"
    pairs = False
    hf_head = "AutoModelForTokenClassification"

    def load(self, config: Any) -> TaggedData:
        d = config.data
        read = {}
        for name in ("train", "dev", "test"):
            read[name] = read_tagged(config.data_path(name), format=d.format, token_column=d.token_column,
                                     tag_column=d.tag_column, header=d.header, lang_prefix=d.lang_prefix)
        tags, repaired, labels = training_tags(read, split_scheme(d.scheme, read["train"]))
        splits = {name: Split(s.source, s.tokens, [], list(s.lines)) for name, s in read.items()}
        data = TaggedData(labels, tags=tags, skipped={n: s.empty_skipped for n, s in read.items()},
                          repaired=repaired, window_overlap=d.window_overlap,
                          locate={n: s.where for n, s in read.items()}, **splits)
        for name in ("dev", "test"):
            data.gold(name)  # raises on an unseen tag, naming file and line
        if data.notes():
            log(f"[data] {data.notes()}")
        return data

    def reading(self, d: Any) -> dict:
        return {"task": d.task, "format": d.format, "header": d.header, "token_column": d.token_column,
                "tag_column": d.tag_column, "scheme": d.scheme, "lang_prefix": d.lang_prefix,
                "window_overlap": d.window_overlap}

    def as_inputs(self, items: Sequence) -> list[list[str]]:
        """Sentences as word lists; a text is split on whitespace; one sentence alone: a list of one."""
        if isinstance(items, str) or (items and all(isinstance(w, str) for w in items) and not _texts(items)):
            items = [items]
        out = []
        for i, item in enumerate(items):
            words = item.split() if isinstance(item, str) else list(item)
            if not words or not all(isinstance(w, str) and w.strip() for w in words):
                raise DataError(f"example {i}: a tagging model takes a sentence as a non-empty list of words (or a "
                                f"text, split on whitespace), got {item!r:.60}")
            out.append(words)
        return out

    def encode_words(self, backend, sentences: Sequence[Sequence[str]], max_length: int | None = None,
                     overlap_words: int = 8):
        return encode_words(backend, sentences, max_length, overlap_words)

    def evaluate(self, outputs: list[np.ndarray], gold: list[np.ndarray], labels: TagLabels) -> Evaluation:
        return tagging_metrics(*tag_names(outputs, gold, labels), labels.scheme)

    def majority(self, data: TaggedData, split: str = "test") -> Baseline:
        """The most frequent training tag (``O`` for span tags, as a rule), for every word."""
        return majority_tags(data, data.inputs(split), "the most frequent tag of the training split, for every word")

    def example_statistics(self, outputs: list[np.ndarray], gold: list[np.ndarray], labels: TagLabels) -> np.ndarray:
        return sentence_counts(*tag_names(outputs, gold, labels), labels.scheme)

    def metric_of_sums(self, sums: np.ndarray, labels: TagLabels) -> np.ndarray:
        return ratio_of_sums(sums) if labels.scheme == PLAIN else span_f1_of_sums(sums)

    def predictions(self, outputs: list[np.ndarray], labels: Sequence[str], meta: dict | None = None,
                    inputs: Sequence[Sequence[str]] | None = None) -> list[dict]:
        """Per sentence ``{"tags": [...], "spans": [{"type", "start", "end"}]}``: tags in the data's own scheme
        (``meta["source_scheme"]``), spans (word indices, end exclusive) for span schemes, with their ``text``
        when the sentences' words (``inputs``) are given."""
        meta = meta or {}
        scheme, source = meta.get("scheme", TRAINING_SCHEME), meta.get("source_scheme", TRAINING_SCHEME)
        out = []
        for k, o in enumerate(outputs):
            tags = repair(labels, o, scheme)
            found = [] if scheme == PLAIN else [{"type": t, "start": s, "end": e} for t, s, e in spans(tags, scheme)]
            if inputs is not None:
                found = [{**span, "text": " ".join(inputs[k][span["start"]:span["end"]])} for span in found]
            out.append({"tags": tags if source == scheme else convert(tags, scheme, source), "spans": found})
        return out

    def shown(self, words: Sequence[str]) -> dict:
        """What ``taskdistil predict`` prints of an input beside its prediction."""
        return {"words": list(words)}


def tag_names(outputs: list[np.ndarray], gold: list[np.ndarray], labels: TagLabels) -> tuple[list, list]:
    """(predicted tags, gold tags) as names: the predictions repaired as ``predict`` returns them (what is scored)."""
    names = labels.labels
    return [repair(names, o, labels.scheme) for o in outputs], [[names[j] for j in g] for g in gold]


def majority_tags(data: Any, word_lists: Sequence[Sequence], rule: str) -> Baseline:
    """The most frequent training tag of ``data`` answered for every word of ``word_lists`` (one per example)."""
    names = data.labels.labels
    tag = majority_class(np.concatenate(data.gold("train")), len(names))
    return Baseline([one_hot_logits(np.full(len(words), tag), len(names)) for words in word_lists], names[tag], rule)


def _texts(items: Sequence) -> bool:
    """Whether a list of strings is several sentences given as texts (any holds a space) rather than one
    sentence's words."""
    return any(" " in w.strip() for w in items)


def repair(labels: Sequence[str], logits: np.ndarray, scheme: str) -> list[str]:
    """Argmax tags, with an I- tag that does not continue a span of its type turned into B- (valid IOB2)."""
    tags = [labels[j] for j in np.asarray(logits).argmax(-1)]
    if scheme == PLAIN:
        return tags
    for k, tag in enumerate(tags):
        if tag.startswith("I") and (k == 0 or tags[k - 1] == "O" or tags[k - 1][1:] != tag[1:]):
            tags[k] = "B" + tag[1:]
    return tags
