"""Batched inference shared by teacher and students: length-sorted batches, input-order output."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from taskdistil.progress import progress
from taskdistil.train.batching import LengthBuckets, example_length, pad_ids

# (ids (B, T), mask (B, T)) -> logits (B, C): torch tensors, or numpy arrays for onnxruntime
Forward = Callable[..., "object"]


def batched_logits(forward: Forward, encoded: Sequence[Sequence[int]], pad_id: int, batch_size: int = 128,
                   desc: str | None = None, pad=None) -> np.ndarray:
    """Logits (N, C) float32 in input order. ``pad`` turns encoded examples into the forward's inputs:
    torch tensors under ``no_grad`` by default, or e.g. ``pad_ids_numpy`` for onnxruntime."""
    if pad is not None:
        return _batched(forward, encoded, pad_id, batch_size, desc, pad)
    import torch

    with torch.no_grad():
        return _batched(forward, encoded, pad_id, batch_size, desc, pad_ids)


def _batched(forward: Forward, encoded: Sequence[Sequence[int]], pad_id: int, batch_size: int, desc: str | None,
             pad) -> np.ndarray:
    out = None
    batches = LengthBuckets([example_length(s) for s in encoded], batch_size, shuffle=False).epoch(0)
    with progress(len(encoded), desc or "", unit="ex", enabled=desc is not None) as bar:
        for idx in batches:
            ids, mask = pad([encoded[i] for i in idx], pad_id)
            logits = forward(ids, mask)
            logits = np.asarray(logits if isinstance(logits, np.ndarray) else logits.float().numpy(), np.float32)
            if out is None:
                out = np.zeros((len(encoded), logits.shape[1]), dtype=np.float32)
            out[idx] = logits
            bar.update(len(idx))
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
