"""Multi-aspect classification (``multi_aspect``): one text, N aspect columns, each with its own label set (e.g.
IndoNLU CASA: fuel, machine, ... each negative/neutral/positive).

Splits: ``taskdistil.data.aspects.read_aspects`` (``data.text_column``; ``data.aspect_columns``, or every other
column). Each aspect's label set is built from the training split (sorted); a dev/test label outside it raises,
naming file, line and aspect column.

Label space (``AspectLabels``): the aspects' label sets concatenated into one flat list of names ``aspect=label``
(aspect by aspect), so the teacher's head is one linear layer of sum_a N_a outputs over its pooled state (a
sequence-classification head) read as per-aspect slices, and so are the students' heads; annotation stores these
sum_a N_a logits per example. The aspects and their label sets are saved with every model (``meta``).

Loss rows (``AspectLabels.row_index``): a (B, sum_a N_a) logit matrix is read as B*A rows of width K = max_a N_a,
row (b, a) holding aspect a's slice, padded with ``PAD_LOGIT`` (probability 0 under softmax, equal in student and
teacher so MSE, KL and CE see nothing there). Every loss of the library, a mean over rows, then is

    L = (1/A) * sum_a  loss(z_s^a, z_t^a, y^a)      (loss: CE, T^2 KL or MSE per aspect slice, batch mean)

the sum over aspects scaled by 1/A (the scale kept independent of the number of aspects; for MSE also by the
padded width N_a/K per aspect).

Metrics: per aspect accuracy and macro-F1 (``<aspect>_accuracy``, ``<aspect>_macro_f1``), their means
``accuracy`` and ``macro_f1``; primary: ``macro_f1``, the mean over aspects of the macro-F1 (IndoNLU's CASA
metric is a macro F1). ``predict`` returns ``{aspect: label}`` per text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from taskdistil.data.aspects import AspectSplit, read_aspects
from taskdistil.errors import DataError
from taskdistil.evaluation import Evaluation
from taskdistil.tasks.base import Baseline
from taskdistil.tasks.classification import classification_metrics, majority_class, one_hot_logits
from taskdistil.tasks.statistics import class_counts, macro_f1_of_sums

PRIMARY_METRIC = "macro_f1"
SEPARATOR = "="  # flat label name: aspect=label
PAD_LOGIT = -1e4  # a padded column of a loss row: softmax probability 0 (exp underflows), finite for MSE


def flat_name(aspect: str, label: str) -> str:
    return f"{aspect}{SEPARATOR}{label}"


@dataclass(frozen=True)
class AspectLabels:
    """Aspects in order and each one's label set (sorted training labels); ``labels``: the flat names."""

    aspects: tuple[str, ...]
    sets: tuple[tuple[str, ...], ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(flat_name(a, label) for a, labels in zip(self.aspects, self.sets) for label in labels)

    def __len__(self) -> int:
        return sum(len(s) for s in self.sets)

    def meta(self) -> dict:
        return {"aspects": list(self.aspects), "label_sets": [list(s) for s in self.sets]}

    @classmethod
    def from_meta(cls, meta: dict) -> "AspectLabels":
        return cls(tuple(meta["aspects"]), tuple(tuple(s) for s in meta["label_sets"]))

    @classmethod
    def from_split(cls, split: AspectSplit) -> "AspectLabels":
        sets = []
        for a, aspect in enumerate(split.aspects):
            distinct = sorted({row[a] for row in split.labels})
            if len(distinct) < 2:
                raise DataError(f"{split.source}: aspect column {aspect!r} has {len(distinct)} distinct label(s) in "
                                "the training split; need >= 2")
            sets.append(tuple(distinct))
        return cls(tuple(split.aspects), tuple(sets))

    def ids(self, split: AspectSplit) -> np.ndarray:
        """(N, A) label ids within each aspect's set; an unseen label raises naming file, line and aspect column."""
        if split.aspects != self.aspects:
            raise DataError(f"{split.source}: aspect columns {list(split.aspects)} differ from the training "
                            f"split's {list(self.aspects)}")
        index = [{label: i for i, label in enumerate(s)} for s in self.sets]
        out = np.empty((len(split), len(self.aspects)), dtype=np.int64)
        for i, row in enumerate(split.labels):
            for a, label in enumerate(row):
                if label not in index[a]:
                    raise DataError(f"{split.where(i)}: label {label!r} in aspect column {self.aspects[a]!r} does not "
                                    f"occur in the training split; known labels: {list(self.sets[a])}")
                out[i, a] = index[a][label]
        return out

    def columns(self, names: Sequence[str]) -> list[list[int]]:
        """Per aspect, the column of each of its labels among the flat label ``names`` (a model's order)."""
        position = {name: j for j, name in enumerate(names)}
        try:
            return [[position[flat_name(a, label)] for label in s] for a, s in zip(self.aspects, self.sets)]
        except KeyError as err:
            raise DataError(f"the model's labels lack {err.args[0]!r}: not this task's aspects and labels") from None

    def row_index(self, names: Sequence[str]) -> np.ndarray:
        """(A, K) column of every loss-row entry among ``names`` (a model's order); ``len(names)`` marks padding
        (a column appended with ``PAD_LOGIT``)."""
        cols = self.columns(names)
        width = max(len(c) for c in cols)
        return np.asarray([c + [len(names)] * (width - len(c)) for c in cols], dtype=np.int64)


@dataclass
class AspectData:
    labels: AspectLabels
    train: AspectSplit
    dev: AspectSplit
    test: AspectSplit

    def inputs(self, split: str) -> list[str]:
        return getattr(self, split).texts

    def gold(self, split: str) -> np.ndarray:
        return self.labels.ids(getattr(self, split))

    def label_ids(self, split: str) -> np.ndarray:
        return self.gold(split)


def aspect_metrics(outputs: np.ndarray, gold: np.ndarray, labels: AspectLabels) -> Evaluation:
    """Per aspect accuracy and macro-F1 of logits whose columns follow ``labels.labels``; their means; primary:
    the mean macro-F1."""
    outputs, gold = np.asarray(outputs), np.asarray(gold)
    metrics: dict[str, float] = {}
    for a, (aspect, cols) in enumerate(zip(labels.aspects, labels.columns(labels.labels))):
        m = classification_metrics(outputs[:, cols], gold[:, a]).metrics
        metrics[f"{aspect}_accuracy"], metrics[f"{aspect}_macro_f1"] = m["accuracy"], m["macro_f1"]
    for name in ("accuracy", "macro_f1"):
        metrics[name] = float(np.mean([metrics[f"{a}_{name}"] for a in labels.aspects]))
    return Evaluation(metrics, PRIMARY_METRIC)


class MultiAspect:
    name = "multi_aspect"
    unit = "aspect"
    pairs = False
    hf_head = "AutoModelForSequenceClassification"  # one linear layer of sum_a N_a outputs, read per aspect

    def load(self, config: Any) -> AspectData:
        d = config.data
        splits = {name: read_aspects(config.data_path(name), str(d.text_column), d.aspect_columns, d.format)
                  for name in ("train", "dev", "test")}
        labels = AspectLabels.from_split(splits["train"])
        data = AspectData(labels, **splits)
        for name in ("dev", "test"):
            data.gold(name)  # raises on an unseen label, naming file, line and aspect column
        return data

    def reading(self, d: Any) -> dict:
        return {"task": d.task, "format": d.format, "text_column": d.text_column, "aspect_columns": d.aspect_columns,
                "too_long": d.too_long}

    def as_inputs(self, items: Sequence) -> list[str]:
        items = [items] if isinstance(items, str) else list(items)
        for i, item in enumerate(items):
            if not isinstance(item, str) or not item.strip():
                raise DataError(f"example {i}: a multi-aspect model takes a non-empty text, got {item!r:.60}")
        return items

    def evaluate(self, outputs: np.ndarray, gold: np.ndarray, labels: AspectLabels) -> Evaluation:
        return aspect_metrics(outputs, gold, labels)

    def majority(self, data: AspectData, split: str = "test") -> Baseline:
        """Each aspect's most frequent training label, answered for every text."""
        labels, train, n = data.labels, data.gold("train"), len(data.gold(split))
        outputs = np.zeros((n, len(labels.labels)), dtype=np.float32)
        answers = []
        for a, (aspect, label_set, cols) in enumerate(zip(labels.aspects, labels.sets,
                                                          labels.columns(labels.labels))):
            label = majority_class(train[:, a], len(label_set))
            outputs[:, cols] = one_hot_logits(np.full(n, label), len(label_set))
            answers.append(f"{aspect}={label_set[label]}")
        return Baseline(outputs, ", ".join(answers), "each aspect's most frequent label in the training split")

    def example_statistics(self, outputs: np.ndarray, gold: np.ndarray, labels: AspectLabels) -> np.ndarray:
        """Per aspect, per class of its set: (tp, fp, fn) indicators of each text (``class_counts``)."""
        outputs, gold = np.asarray(outputs), np.asarray(gold)
        return np.concatenate([class_counts(outputs[:, cols].argmax(-1), gold[:, a], len(cols))
                               for a, cols in enumerate(labels.columns(labels.labels))], axis=1)

    def metric_of_sums(self, sums: np.ndarray, labels: AspectLabels) -> np.ndarray:
        """The mean over aspects of each aspect's macro-F1."""
        per_aspect, start = [], 0
        for label_set in labels.sets:
            width = 3 * len(label_set)
            per_aspect.append(macro_f1_of_sums(sums[:, start:start + width], len(label_set)))
            start += width
        return np.mean(per_aspect, axis=0)

    def predictions(self, outputs: np.ndarray, labels: Sequence[str], meta: dict | None = None) -> list[dict]:
        """Per text ``{aspect: label}`` (columns found by name in the model's ``labels``)."""
        space = AspectLabels.from_meta(meta or {})
        outputs = np.asarray(outputs)
        picks = [(aspect, s, np.asarray(cols)) for aspect, s, cols in
                 zip(space.aspects, space.sets, space.columns(labels))]
        return [{aspect: s[int(row[cols].argmax())] for aspect, s, cols in picks} for row in outputs]

    def probabilities(self, outputs: np.ndarray, labels: Sequence[str], meta: dict) -> list[dict]:
        """Per text ``{aspect: {label: probability}}`` (softmax within each aspect's slice)."""
        space = AspectLabels.from_meta(meta)
        out = [{} for _ in range(len(outputs))]
        for aspect, s, cols in zip(space.aspects, space.sets, space.columns(labels)):
            z = np.asarray(outputs)[:, cols]
            p = np.exp(z - z.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            for i, row in enumerate(p):
                out[i][aspect] = {label: float(v) for label, v in zip(s, row)}
        return out
