"""How the exam scores a model on a text set: fp32 runtimes in length-bucketed batches, int8 alone and batched.

An fp32 model masks its padding (attention masks, packed LSTMs, masked pooling), so a text's prediction does not
depend on its batch mates: PyTorch and ONNX fp32 rows are scored in batches of texts of similar length
(``Predictor.outputs``: ``taskdistil.inference.batched_logits``), much faster than one text at a time for small
models (``tests/test_exam_scoring.py`` checks identical predictions on the 872 SST-2 test sentences). Dynamic int8
quantizes activations with one scale per batch tensor, so its predictions do depend on the batch: int8 rows are
scored alone (as served at batch 1: the row's metrics) and in batches (``metrics_batched``). The alone pass is
split into contiguous parts scored side by side, one single-threaded onnxruntime session per part (onnxruntime
releases the GIL), when the exam may use several cores: each text is still scored alone, so the predictions are
those of one session scoring the texts one by one, only sooner.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

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


def how_scored(runtime: str, batch_size: int, workers: int = 1) -> str:
    batched = f"length-bucketed batches of {batch_size}" if batch_size > 1 else "one text at a time"
    if runtime in BATCH_DEPENDENT:
        alone = "one text at a time" + (f", {workers} parts side by side" if workers > 1 else "")
        return f"{alone} (batch 1); batched figures: {batched}" if batch_size > 1 else alone
    return batched


def score(predictor, runtime: str, encoded: Sequence, batch_size: int, labels: Sequence[str] | None = None,
          single_threaded: Callable[[], object] | None = None, workers: int = 1) -> Scores:
    """Score ``encoded`` examples with ``predictor`` (its ``outputs``: logits (N, C) for classification, a list of
    per-word logits for tagging) as ``runtime`` is scored; columns in the order of ``labels`` (None: the model's).
    A batch-dependent runtime's alone pass runs in ``workers`` parts side by side, each on a predictor made by
    ``single_threaded`` (one onnxruntime thread), when both are given."""
    if runtime in BATCH_DEPENDENT:
        parts = min(workers, len(encoded)) if single_threaded is not None else 1
        alone = _alone(predictor, encoded, labels, single_threaded, parts)
        batched = predictor.outputs(encoded, batch_size, labels) if batch_size > 1 else None
        return Scores(alone, batched, how_scored(runtime, batch_size, parts))
    return Scores(predictor.outputs(encoded, batch_size, labels), None, how_scored(runtime, batch_size))


def _alone(predictor, encoded: Sequence, labels, single_threaded, parts: int):
    """Every example scored alone (batch 1): in ``parts`` contiguous parts side by side when parts > 1."""
    if parts <= 1:
        return predictor.outputs(encoded, 1, labels)
    bounds = np.linspace(0, len(encoded), parts + 1).astype(int)
    sessions = [single_threaded() for _ in range(parts)]
    with ThreadPoolExecutor(max_workers=parts) as pool:
        done = list(pool.map(lambda i: sessions[i].outputs(encoded[bounds[i]:bounds[i + 1]], 1, labels),
                             range(parts)))
    if isinstance(done[0], np.ndarray):
        return np.concatenate(done, axis=0)
    return [item for part in done for item in part]  # per-word logits of word-level tasks
