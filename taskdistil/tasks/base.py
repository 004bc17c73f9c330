"""The task-kind interface: what every kind of task (``data.task``) tells the rest of the library.

A task kind owns how its splits are read, its label space, the teacher's head, what annotation stores, the loss
targets, the metrics and what ``predict`` returns. It does so through two things:

- ``unit``: what one label belongs to, ``"example"`` (one label per text or pair: a sequence head on the teacher,
  one logit row per example in the annotations, a pooled ``(B, H)`` state under the students' heads) or
  ``"word"`` (one label per word: a token head on the teacher, word-level logits in the annotations, per-token
  ``(B, T, H)`` states under the students' heads, scored on words) or ``"aspect"`` (one label per aspect of an
  example: a sequence head of sum_a N_a logits read as per-aspect slices, one logit row per example in the
  annotations, the losses over per-aspect rows: ``taskdistil.tasks.multi_aspect``). The machinery of a unit
  (teacher fine-tuning,
  annotation rows, the students' targets, batched scoring) is written once per unit, beside the code it belongs
  to, and chosen by ``unit`` from a table, never by the kind's name;
- the methods below, which hold everything that differs between kinds of the same unit. Kinds of the ``"word"``
  unit also have ``encode_words(backend, inputs, max_length=None, overlap_words=8)`` (their inputs as windows of
  sub-token ids aligned to the scored words: ``taskdistil.tasks.words.WordEncoding``; a sentence, or a question
  and passage: ``taskdistil.tasks.question_words``) and ``shown(input)`` (what ``taskdistil predict`` prints of an
  input), and their ``predictions`` take the checked ``inputs`` too (span texts).

Adding a kind: its module here (a class with these members) and one line in ``taskdistil.tasks.registry``.
This layer imports only the data layer and ``taskdistil.evaluation``: every other layer may import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from taskdistil.evaluation import Evaluation

Unit = Literal["example", "word", "aspect"]

# The head every student puts on its encoder, by unit: "sequence" reads the pooled (B, H) state -> logits (B, C);
# "token" reads every token's state (B, T, H) -> logits (B, T, C), scored at each word's first sub-token
# (``taskdistil.tasks.words``). A student kind lists the heads it has (``heads``); the build checks it.
STUDENT_HEADS: dict[str, str] = {"example": "sequence", "word": "token", "aspect": "sequence"}


class TaskData(Protocol):
    """The three splits of a task and its label space (label names in id order: ``labels.labels``)."""

    labels: Any
    train: Any
    dev: Any
    test: Any

    def inputs(self, split: str) -> list:
        """What a model reads, per example of ``split``: a text, a pair ``(a, b)``, a sentence's words, or a
        question's and a passage's words ``(question, passage)``."""

    def gold(self, split: str) -> Any:
        """Gold label ids of ``split``: (N,) int64 for example units; a list of (n_words,) int64 for word units;
        (N, A) int64 for aspect units (ids within each aspect's label set)."""


@dataclass
class Baseline:
    """A no-skill model on a split: its outputs (as a model's: logits, or per-word logits) and what it always
    answers, in words (e.g. ``'1'``, ``'O'``, ``'fuel=neutral, price=neutral'``)."""

    outputs: Any
    answer: str
    rule: str = "the most frequent label of the training split"


class TaskKind(Protocol):
    name: str
    unit: Unit
    pairs: bool  # an example is a pair of texts, read by the teacher as one sequence [CLS] a [SEP] b [SEP]
    hf_head: str  # the transformers class of the teacher: its head (e.g. "AutoModelForTokenClassification")

    def load(self, config: Any) -> TaskData:
        """Read the train, dev and test splits of a run config and build the label space from the training split;
        a label outside it raises ``DataError`` naming file and line."""

    def reading(self, data: Any) -> dict:
        """The ``data`` settings that change how the splits are read (part of every stage key)."""

    def as_inputs(self, items: Sequence) -> list:
        """``predict``'s inputs, checked (a single example alone: a list of one); DataError naming the bad one."""

    def evaluate(self, outputs: Any, gold: Any, labels: Any) -> Evaluation:
        """Metrics of a model's ``outputs`` (logits (N, C), or per-word logits: a list of (n_words, C) arrays) whose
        columns follow the label space ``labels`` (``TaskData.labels``), against ``gold`` (``TaskData.gold``)."""

    def majority(self, data: TaskData, split: str = "test") -> Baseline:
        """The majority baseline on ``split``: the most frequent training label of the unit (per aspect; per word)
        answered everywhere."""

    def example_statistics(self, outputs: Any, gold: Any, labels: Any) -> np.ndarray:
        """(N, K) per-example counts whose column sums give the primary metric through ``metric_of_sums``
        (``taskdistil.tasks.statistics``): what the exam's paired bootstrap resamples."""

    def metric_of_sums(self, sums: np.ndarray, labels: Any) -> np.ndarray:
        """(R, K) column sums of ``example_statistics`` rows -> (R,) primary metric; on the whole split it equals
        ``evaluate(...).score``."""

    def predictions(self, outputs: Any, labels: Sequence[str], meta: dict | None = None) -> list:
        """What ``predict`` returns for ``outputs`` whose columns follow ``labels`` (label names); ``meta``: the
        label space's settings saved with the model (``label_meta``)."""


def student_head(kind: TaskKind) -> str:
    """The students' head for a task kind: ``STUDENT_HEADS`` of its unit."""
    return STUDENT_HEADS[kind.unit]


def label_meta(labels: Any) -> dict:
    """The settings of a label space that a saved model needs besides its label names (a tagging scheme), or {}."""
    meta = getattr(labels, "meta", None)
    return meta() if callable(meta) else {}
