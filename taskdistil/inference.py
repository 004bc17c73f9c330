"""Batched inference shared by teacher and students: length-sorted batches, input-order output."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from taskdistil.progress import progress
from taskdistil.train.batching import LengthBuckets, pad_ids

Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (ids (B, T), mask (B, T)) -> logits (B, C)


@torch.no_grad()
def batched_logits(forward: Forward, encoded: Sequence[Sequence[int]], pad_id: int, batch_size: int = 128,
                   desc: str | None = None) -> np.ndarray:
    """Logits (N, C) float32 in input order."""
    out = None
    batches = LengthBuckets([len(s) for s in encoded], batch_size, shuffle=False).epoch(0)
    with progress(len(encoded), desc or "", unit="ex", enabled=desc is not None) as bar:
        for idx in batches:
            ids, mask = pad_ids([encoded[i] for i in idx], pad_id)
            logits = forward(ids, mask).float().numpy()
            if out is None:
                out = np.zeros((len(encoded), logits.shape[1]), dtype=np.float32)
            out[idx] = logits
            bar.update(len(idx))
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
