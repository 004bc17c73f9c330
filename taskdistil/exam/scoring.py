"""How the exam scores a model on a text set: fp32 runtimes in length-bucketed batches, int8 alone and batched.

An fp32 model masks its padding (attention masks, packed LSTMs, masked pooling), so a text's prediction does not
depend on its batch mates: PyTorch and ONNX fp32 rows are scored in batches of texts of similar length
(``Predictor.outputs``: ``taskdistil.inference.batched_logits``), much faster than one text at a time for small
models (``tests/test_exam_scoring.py`` checks identical predictions on the 872 SST-2 test sentences). Dynamic int8
quantizes activations with one scale per batch tensor, so its predictions do depend on the batch: int8 rows are
scored alone (as served at batch 1: the row's metrics) and in batches (``metrics_batched``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

BATCH_DEPENDENT = ("onnx-int8",)


@dataclass
class Scores:
    """Logits (N, C) of one model on one text set, columns in the task's label order."""

    logits: np.ndarray | list  # (N, C), or per-word (words, C) arrays for word-level tasks
    logits_batched: np.ndarray | list | None  # batch-dependent runtimes: the batched pass too
    scored: str  # how, in words, for the report

    @property
    def predictions(self) -> np.ndarray:
        return self.logits.argmax(-1)


def how_scored(runtime: str, batch_size: int) -> str:
    batched = f"length-bucketed batches of {batch_size}" if batch_size > 1 else "one text at a time"
    if runtime in BATCH_DEPENDENT and batch_size > 1:
        return f"one text at a time (batch 1); batched figures: {batched}"
    return batched


def score(predictor, runtime: str, encoded: Sequence, batch_size: int, labels: Sequence[str] | None = None) -> Scores:
    """Score ``encoded`` examples with ``predictor`` (its ``outputs``: logits (N, C) for classification, a list of
    per-word logits for tagging) as ``runtime`` is scored; columns in the order of ``labels`` (None: the model's)."""
    if runtime in BATCH_DEPENDENT:
        alone = predictor.outputs(encoded, 1, labels)
        batched = predictor.outputs(encoded, batch_size, labels) if batch_size > 1 else None
        return Scores(alone, batched, how_scored(runtime, batch_size))
    return Scores(predictor.outputs(encoded, batch_size, labels), None, how_scored(runtime, batch_size))
