"""Question tagging (``question_tagging``): extractive question answering as tagging, as IndoNLU FacQA. An example
is a question and a passage (both lists of words) with one tag per passage word marking the answer span(s).

Reading: ``taskdistil.data.question_tagged`` (CSV or JSONL rows of list cells: ``question_column``,
``passage_column``, ``tag_column``). Tag schemes as in token tagging (``taskdistil.tasks.tagging``: declared or
detected, converted to IOB2 for training; FacQA's bare B/I/O tags are a span scheme of the type ``_``); a tag
outside the training split's label space names file, line and word.

The teacher reads ``[CLS] question [SEP] passage [SEP]`` (a token-classification head, token types derived from
the ids as for sentence pairs); only the passage's words carry tags, at their first sub-token; long passages are
split into windows that each repeat the question (``taskdistil.tasks.question_words``), so no gold tag is dropped.
Students read the same concatenated sequence (without windows) and are scored on the passage's words.

Metrics: seqeval strict span precision/recall/F1 over the passages (primary ``f1``), token ``accuracy``, and
``exact_match``: the share of examples whose predicted spans are exactly the gold spans (type and boundaries; an
example without a gold span matches when none is predicted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from taskdistil.data import Split
from taskdistil.data.question_tagged import read_question_tagged
from taskdistil.data.tag_schemes import (
    TRAINING_SCHEME,
    convert,
    spans,
)
from taskdistil.errors import DataError
from taskdistil.evaluation import Evaluation
from taskdistil.progress import log
from taskdistil.tasks.base import Baseline
from taskdistil.tasks.question_words import encode_question_words
from taskdistil.tasks.statistics import span_f1_of_sums
from taskdistil.tasks.tagging import PLAIN, TagLabels, majority_tags, repair, split_scheme, tag_names, training_tags
from taskdistil.tasks.tagging_metrics import sentence_counts, tagging_metrics

QAExample = tuple[list[str], list[str]]  # (question words, passage words)


@dataclass
class QuestionTaggedData:
    """The splits: ``Split``s whose ``texts`` are ``(question words, passage words)``; ``tags[split]`` the passage
    tags in the training scheme."""

    labels: TagLabels
    train: Split
    dev: Split
    test: Split
    tags: dict[str, list[list[str]]]
    repaired: dict[str, int]
    window_overlap: int = 8  # passage words shared by the windows of a passage longer than a model reads

    def inputs(self, split: str) -> list[QAExample]:
        return getattr(self, split).texts

    def gold(self, split: str) -> list[np.ndarray]:
        return self.labels.ids(self.tags[split], getattr(self, split).where)

    def label_ids(self, split: str) -> list[np.ndarray]:
        return self.gold(split)


class QuestionTagging:
    name = "question_tagging"
    unit = "word"
    pairs = True  # read as one sequence [CLS] question [SEP] passage [SEP], with token types
    hf_head = "AutoModelForTokenClassification"

    def load(self, config: Any) -> QuestionTaggedData:
        d = config.data
        read = {name: read_question_tagged(config.data_path(name), format=d.format, question_column=d.question_column,
                                           passage_column=d.passage_column, tag_column=d.tag_column, header=d.header)
                for name in ("train", "dev", "test")}
        scheme = split_scheme(d.scheme, read["train"])
        if scheme == PLAIN:
            raise DataError(f"{read['train'].source}: question tagging marks answer spans; tag scheme 'plain' has "
                            "none")
        tags, repaired, labels = training_tags(read, scheme)
        splits = {name: Split(s.source, list(zip(s.questions, s.passages)), [], list(s.lines))
                  for name, s in read.items()}
        data = QuestionTaggedData(labels, tags=tags, repaired=repaired, window_overlap=d.window_overlap, **splits)
        for name in ("dev", "test"):
            data.gold(name)  # raises on a tag outside the label space, naming file and line
        notes = "; ".join(f"{n}: {k} ill-formed tag(s) repaired" for n, k in repaired.items() if k)
        if notes:
            log(f"[data] {notes}")
        return data

    def reading(self, d: Any) -> dict:
        return {"task": d.task, "format": d.format, "header": d.header, "question_column": d.question_column,
                "passage_column": d.passage_column, "tag_column": d.tag_column, "scheme": d.scheme,
                "window_overlap": d.window_overlap}

    def as_inputs(self, items: Sequence) -> list[QAExample]:
        """``(question, passage)`` pairs, each a text (split on whitespace) or a list of words; a single pair alone
        (a tuple, or a list of two texts) is a list of one."""
        if isinstance(items, tuple) or (isinstance(items, list) and len(items) == 2
                                        and all(isinstance(t, str) for t in items)):
            items = [items]
        out = []
        for i, item in enumerate(items):
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise DataError(f"example {i}: a question-tagging model takes (question, passage) pairs, got "
                                f"{item!r:.60}")
            sides = [side.split() if isinstance(side, str) else list(side) for side in item]
            for role, words in zip(("question", "passage"), sides):
                if not words or not all(isinstance(w, str) and w.strip() for w in words):
                    raise DataError(f"example {i}: the {role} must be a non-empty text or list of words, got "
                                    f"{item!r:.60}")
            out.append((sides[0], sides[1]))
        return out

    def encode_words(self, backend, items: Sequence[QAExample], max_length: int | None = None,
                     overlap_words: int = 8):
        return encode_question_words(backend, items, max_length, overlap_words)

    def evaluate(self, outputs: list[np.ndarray], gold: list[np.ndarray], labels: TagLabels) -> Evaluation:
        pred, true = tag_names(outputs, gold, labels)
        evaluation = tagging_metrics(pred, true, labels.scheme)
        evaluation.metrics["exact_match"] = exact_match(pred, true, labels.scheme)
        return evaluation

    def majority(self, data: QuestionTaggedData, split: str = "test") -> Baseline:
        """The most frequent training tag (``O``, as a rule), for every passage word."""
        return majority_tags(data, [passage for _, passage in data.inputs(split)],
                             "the most frequent tag of the training split, for every passage word")

    def example_statistics(self, outputs: list[np.ndarray], gold: list[np.ndarray], labels: TagLabels) -> np.ndarray:
        """Per example (true positive, predicted, gold) answer spans: the span F1's counts."""
        return sentence_counts(*tag_names(outputs, gold, labels), labels.scheme)

    def metric_of_sums(self, sums: np.ndarray, labels: TagLabels) -> np.ndarray:
        return span_f1_of_sums(sums)

    def predictions(self, outputs: list[np.ndarray], labels: Sequence[str], meta: dict | None = None,
                    inputs: Sequence[QAExample] | None = None) -> list[dict]:
        """Per example ``{"tags", "spans", "answer"}``: passage tags in the data's own scheme; spans (passage word
        indices, end exclusive; with ``inputs`` also ``text`` and ``char_start``/``char_end`` in the passage written
        as its words joined by single spaces); ``answer``: the span whose tags have the highest mean probability
        (with its ``score``), or None."""
        meta = meta or {}
        scheme, source = meta.get("scheme", TRAINING_SCHEME), meta.get("source_scheme", TRAINING_SCHEME)
        out = []
        for k, logits in enumerate(outputs):
            tags = repair(labels, logits, scheme)
            probs = _softmax(np.asarray(logits, np.float64)).max(-1)
            passage = inputs[k][1] if inputs is not None else None
            found = []
            for kind, start, end in spans(tags, scheme):
                span = {"type": kind, "start": start, "end": end, "score": round(float(probs[start:end].mean()), 4)}
                if passage is not None:
                    char_start = sum(len(w) + 1 for w in passage[:start])
                    text = " ".join(passage[start:end])
                    span.update(text=text, char_start=char_start, char_end=char_start + len(text))
                found.append(span)
            answer = max(found, key=lambda s: s["score"]) if found else None
            out.append({"tags": tags if source == scheme else convert(tags, scheme, source), "spans": found,
                        "answer": answer})
        return out

    def shown(self, item: QAExample) -> dict:
        """What ``taskdistil predict`` prints of an input beside its prediction."""
        return {"question": " ".join(item[0]), "passage": " ".join(item[1])}


def exact_match(pred: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], scheme: str) -> float:
    """Share of examples whose predicted spans (type, start, end) are exactly the gold spans."""
    if not gold:
        return 0.0
    hits = sum(set(spans(p, scheme)) == set(spans(g, scheme)) for p, g in zip(pred, gold))
    return hits / len(gold)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)
