"""Word embeddings for word-level students: initialisation and tuned/frozen/multichannel tables.

``svd_reduce``: XtremeDistil (Mukherjee & Hassan Awadallah 2020) — the teacher's WordPiece
embedding matrix W (V, H) = U S V^T, reduced to E dims as U[:, :E] * S[:E] (the best
rank-E approximation's coordinates), so the student starts from the teacher's lexicon.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from taskdistil.errors import ConfigError


def svd_reduce(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """(V, H) -> (V, dim) with dim <= H."""
    vocab, hidden = weight.shape
    if dim > hidden:
        raise ConfigError(f"embedding_dim {dim} exceeds the teacher's hidden size {hidden}; SVD can only reduce")
    u, s, _ = torch.linalg.svd(weight.float(), full_matrices=False)
    return u[:, :dim] * s[:dim]


def teacher_input_embeddings(teacher_model) -> torch.Tensor:
    return teacher_model.get_input_embeddings().weight.detach()


class WordEmbeddings(nn.Embedding):
    """A lookup table that is tuned, frozen, or both (multichannel: Kim 2014, Tang et al. 2019).

    ``multichannel`` concatenates a frozen copy and a tuned copy of the same initial table,
    so words the transfer set never updates stay consistent with the frozen channel.
    Output (B, T, out_dim) with out_dim = dim, or 2 * dim for multichannel. Parameters:
    ``weight`` (V, dim) and, for multichannel, ``frozen_weight`` (V, dim). An ``nn.Embedding``, so that
    ``sparse`` (set by ``taskdistil.train.lazy_adam.LazyAdam``: the tuned table's gradient holds the rows the batch
    read) is seen by DistributedDataParallel too.
    """

    MODES = ("tuned", "frozen", "multichannel")

    def __init__(self, vocab_size: int, dim: int, pad_id: int, mode: str = "tuned"):
        if mode not in self.MODES:
            raise ConfigError(f"embedding mode {mode!r}; allowed: {self.MODES}")
        initial = torch.randn(vocab_size, dim)
        initial[pad_id] = 0.0
        super().__init__(vocab_size, dim, padding_idx=pad_id, _weight=initial, _freeze=mode == "frozen")
        self.mode = mode
        self.pad_id = pad_id
        self.frozen_weight = nn.Parameter(initial.clone(), requires_grad=False) if mode == "multichannel" else None
        self.out_dim = 2 * dim if mode == "multichannel" else dim

    @torch.no_grad()
    def initialize(self, matrix: torch.Tensor) -> None:
        """Copy ``matrix`` (V, dim) into every channel; the pad row stays zero."""
        for table in (self.weight, self.frozen_weight):
            if table is not None:
                table.copy_(matrix)
                table[self.pad_id].zero_()

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        tuned = F.embedding(input_ids, self.weight, padding_idx=self.pad_id, sparse=self.sparse)  # (B, T, dim)
        if self.frozen_weight is None:
            return tuned
        return torch.cat([F.embedding(input_ids, self.frozen_weight), tuned], dim=-1)  # (B, T, 2 * dim)
