"""Batched inference shared by teacher and students: length-sorted batches, input-order output.

On an accelerator (a ``Placement`` off CPU) batches go to the device from pinned memory without waiting, and the
outputs stay there until the call ends: one copy back per call (an annotation shard), no host sync per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING

import numpy as np

from taskdistil.progress import progress
from taskdistil.train.batching import LengthBuckets, example_length, pad_ids, token_budget_batches

if TYPE_CHECKING:
    from taskdistil.devices import Placement

# (ids (B, T), mask (B, T)) -> logits (B, C): torch tensors, or numpy arrays for onnxruntime
Forward = Callable[..., "object"]


def batched_logits(forward: Forward, encoded: Sequence[Sequence[int]], pad_id: int, batch_size: int = 128,
                   desc: str | None = None, pad=None, placement: Placement | None = None,
                   max_tokens: int | None = None) -> np.ndarray:
    """Logits (N, C) float32 in input order. ``pad`` turns encoded examples into the forward's inputs:
    torch tensors under ``no_grad`` by default, or e.g. ``pad_ids_numpy`` for onnxruntime. ``placement``: the
    device and autocast precision of the forward (default: CPU, fp32). ``max_tokens``: batches sized by padded
    tokens instead of ``batch_size`` examples."""
    lengths = [example_length(s) for s in encoded]
    if max_tokens is None:
        batches = LengthBuckets(lengths, batch_size, shuffle=False).epoch(0)
    else:
        batches = token_budget_batches(lengths, max_tokens)
    if pad is not None:
        return _batched(forward, encoded, pad_id, batches, desc, pad)
    import torch

    with torch.no_grad():
        if placement is None or placement.on_cpu:
            with placement.autocast() if placement is not None else nullcontext():
                return _batched(forward, encoded, pad_id, batches, desc, pad_ids)
        return _on_device(forward, encoded, pad_id, batches, desc, placement)


def _batched(forward: Forward, encoded: Sequence[Sequence[int]], pad_id: int, batches: list[np.ndarray],
             desc: str | None, pad) -> np.ndarray:
    out = None
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


def _on_device(forward: Forward, encoded: Sequence[Sequence[int]], pad_id: int, batches: list[np.ndarray],
               desc: str | None, placement: Placement) -> np.ndarray:
    """``_batched`` on an accelerator: float32 outputs gathered on the device, copied back once."""
    import torch

    parts = []
    with progress(len(encoded), desc or "", unit="ex", enabled=desc is not None) as bar:
        for idx in batches:
            ids, mask = pad_ids([encoded[i] for i in idx], pad_id)
            with placement.autocast():
                logits = forward(placement.to(ids), placement.to(mask))
            parts.append(logits.float())
            bar.update(len(idx))
    if not parts:
        return None
    out = np.zeros((len(encoded), parts[0].shape[1]), dtype=np.float32)
    out[np.concatenate(batches)] = torch.cat(parts).cpu().numpy()
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
