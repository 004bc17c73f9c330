"""Length-bucketed batches: deterministic per (seed, epoch), so a resumed run replays them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


class LengthBuckets:
    """Index batches of examples of similar length.

    Shuffles, sorts by length inside pools of ``pool_batches`` batches (little padding),
    then shuffles the batches. With ``shuffle=False`` batches follow sorted length
    (inference order). ``rows`` batches only those example indices (a subset of the transfer set).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 0, shuffle: bool = True,
                 pool_batches: int = 50, rows: Sequence[int] | None = None):
        self.rows = None if rows is None else np.asarray(rows, dtype=np.int64)
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if self.rows is not None:
            self.lengths = self.lengths[self.rows]
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.pool = batch_size * pool_batches

    def __len__(self) -> int:
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size

    def epoch(self, epoch: int) -> list[np.ndarray]:
        batches = self._positions(epoch)
        return batches if self.rows is None else [self.rows[b] for b in batches]

    def _positions(self, epoch: int) -> list[np.ndarray]:
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            return [order[i:i + self.batch_size] for i in range(0, n, self.batch_size)]
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(n)
        batches = []
        for start in range(0, n, self.pool):
            pool = order[start:start + self.pool]
            pool = pool[np.argsort(self.lengths[pool], kind="stable")]
            batches.extend(pool[i:i + self.batch_size] for i in range(0, len(pool), self.batch_size))
        return [batches[i] for i in rng.permutation(len(batches))]


def token_budget_batches(lengths: Sequence[int], max_tokens: int) -> list[np.ndarray]:
    """Inference batches in sorted length order, each of at most ``max_tokens`` padded tokens (examples times the
    longest length; one example at least): many short examples per batch, few long ones."""
    order = np.argsort(np.asarray(lengths, dtype=np.int64), kind="stable")
    batches, start = [], 0
    for end, i in enumerate(order):  # ascending lengths: the example at `end` is its batch's longest
        if end > start and (end - start + 1) * lengths[i] > max_tokens:
            batches.append(order[start:end])
            start = end
    if start < len(order):
        batches.append(order[start:])
    return batches


def example_length(encoded) -> int:
    """Tokens of one encoded example: an id list, or the sum over a siamese pair's two lists."""
    return sum(map(len, encoded)) if isinstance(encoded, tuple) else len(encoded)


def stacked(sequences: Sequence) -> list:
    """Id lists as given; B siamese pairs (tuples of two id lists) as 2B lists: the B first texts, then the B
    second texts (the input layout of siamese students, ``taskdistil.students.pairs``)."""
    if sequences and isinstance(sequences[0], tuple):
        return [s[0] for s in sequences] + [s[1] for s in sequences]
    return list(sequences)


def pad_ids_numpy(sequences: Sequence, pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id lists -> (ids (B, T) int64, mask (B, T) int64), without PyTorch. B siamese pairs -> (2B, T):
    the first texts, then the second texts (``stacked``)."""
    sequences = stacked(sequences)
    width = max(1, max(len(s) for s in sequences))
    ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(sequences), width), dtype=np.int64)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return ids, mask


def pad_ids(sequences: Sequence, pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists -> (ids (B, T) long, mask (B, T) long); B siamese pairs -> (2B, T) (``stacked``)."""
    import torch

    ids, mask = pad_ids_numpy(sequences, pad_id)
    return torch.from_numpy(ids), torch.from_numpy(mask)
