"""Classification of single sentences (``single_sentence``) or sentence pairs (``sentence_pair``): one label per
example; accuracy (primary) and macro-F1."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from taskdistil.data import LabelMap, Split, read_split
from taskdistil.data.low_resource import keep_per_class
from taskdistil.data.pairs import as_examples
from taskdistil.evaluation import Evaluation
from taskdistil.progress import log
from taskdistil.tasks.base import Baseline
from taskdistil.tasks.statistics import ratio_of_sums

PRIMARY_METRIC = "accuracy"


@dataclass
class TaskData:
    labels: LabelMap
    train: Split
    dev: Split
    test: Split
    rest: Split | None = None  # data.labeled_per_class: the training examples left out (unlabeled transfer text)

    def label_ids(self, split: str) -> np.ndarray:
        return np.asarray(self.labels.ids(getattr(self, split)), dtype=np.int64)

    def inputs(self, split: str) -> list:
        return getattr(self, split).texts

    def gold(self, split: str) -> np.ndarray:
        return self.label_ids(split)


def classification_metrics(logits: np.ndarray, gold: np.ndarray) -> Evaluation:
    """Accuracy (primary) and macro-F1 over the classes present in gold or predictions."""
    pred = np.asarray(logits).argmax(-1)
    gold = np.asarray(gold)
    accuracy = float((pred == gold).mean()) if len(gold) else 0.0
    f1s = []
    for c in np.union1d(pred, gold):
        tp = float(((pred == c) & (gold == c)).sum())
        fp = float(((pred == c) & (gold != c)).sum())
        fn = float(((pred != c) & (gold == c)).sum())
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return Evaluation({"accuracy": accuracy, "macro_f1": float(np.mean(f1s)) if f1s else 0.0}, PRIMARY_METRIC)


class Classification:
    """One label per example: a text (``pairs`` False) or a pair of texts read from ``text_b_column``."""

    unit = "example"
    hf_head = "AutoModelForSequenceClassification"

    def __init__(self, name: str, pairs: bool):
        self.name = name
        self.pairs = pairs

    def load(self, config: Any) -> TaskData:
        d = config.data
        splits = {}
        for name, hf_split in (("train", "train"), ("dev", "validation"), ("test", "test")):
            splits[name] = read_split(config.data_path(name), d.text_column, d.label_column, d.format, d.header,
                                      default_hf_split=hf_split, text_b_column=d.text_b_column)
        labels = LabelMap.from_split(splits["train"])
        for name in ("train", "dev", "test"):
            labels.ids(splits[name])  # raises on an unseen label, naming file and line
        if d.labeled_per_class is None:
            return TaskData(labels, **splits)
        splits["train"], rest, counts = keep_per_class(splits["train"], d.labeled_per_class, d.labeled_seed)
        log(f"[data] labeled_per_class {d.labeled_per_class}: kept " + ", ".join(
            f"{n} of {label!r}" for label, n in counts.items()) + f"; {len(rest):,} training texts join the "
            "transfer set as unlabeled text")
        return TaskData(labels, **splits, rest=rest)

    def reading(self, d: Any) -> dict:
        reading = {"task": d.task, "format": d.format, "header": d.header, "text_column": d.text_column,
                   "label_column": d.label_column, "too_long": d.too_long}
        if d.text_b_column is not None:  # only then: single-sentence runs keep their keys
            reading["text_b_column"] = d.text_b_column
        if d.labeled_per_class is not None:  # likewise
            reading.update(labeled_per_class=d.labeled_per_class, labeled_seed=d.labeled_seed)
        return reading

    def as_inputs(self, items: Sequence) -> list:
        """Checked ``predict`` inputs: texts, or pairs ``(a, b)`` (a text or a pair alone: a list of one)."""
        return as_examples(items, self.name)

    def evaluate(self, outputs: np.ndarray, gold: np.ndarray, labels: LabelMap) -> Evaluation:
        return classification_metrics(np.asarray(outputs), np.asarray(gold))

    def predictions(self, outputs: np.ndarray, labels: Sequence[str], meta: dict | None = None) -> list[str]:
        return [labels[i] for i in np.asarray(outputs).argmax(-1)]

    def majority(self, data: TaskData, split: str = "test") -> Baseline:
        names = data.labels.labels
        label = majority_class(data.gold("train"), len(names))
        return Baseline(one_hot_logits(np.full(len(data.gold(split)), label), len(names)), str(names[label]))

    def example_statistics(self, outputs: np.ndarray, gold: np.ndarray, labels: LabelMap) -> np.ndarray:
        """(N, 2): (right, 1) per example: accuracy is the ratio of the sums."""
        right = np.asarray(outputs).argmax(-1) == np.asarray(gold)
        return np.stack([right, np.ones_like(right)], axis=1).astype(np.float32)

    def metric_of_sums(self, sums: np.ndarray, labels: LabelMap) -> np.ndarray:
        return ratio_of_sums(sums)


def majority_class(label_ids: np.ndarray, num_labels: int) -> int:
    """The most frequent label id (the smallest id among ties)."""
    counts = np.bincount(np.asarray(label_ids, dtype=np.int64).ravel(), minlength=num_labels)
    return int(np.argmax(counts))


def one_hot_logits(label_ids: np.ndarray, num_labels: int) -> np.ndarray:
    """(N, C) logits that predict ``label_ids`` (N,)."""
    label_ids = np.asarray(label_ids, dtype=np.int64)
    logits = np.zeros((len(label_ids), num_labels), dtype=np.float32)
    logits[np.arange(len(label_ids)), label_ids] = 1.0
    return logits
